use super::AppState;

pub struct OrgService<'a> {
    #[allow(dead_code)]
    state: &'a AppState,
}

impl<'a> OrgService<'a> {
    pub fn new(state: &'a AppState) -> Self {
        OrgService { state }
    }
}
