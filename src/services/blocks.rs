use super::AppState;

pub struct BlockService<'a> {
    #[allow(dead_code)]
    state: &'a AppState,
}

impl<'a> BlockService<'a> {
    pub fn new(state: &'a AppState) -> Self {
        BlockService { state }
    }
}
