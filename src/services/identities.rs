use super::AppState;

pub struct IdentityService<'a> {
    #[allow(dead_code)]
    state: &'a AppState,
}

impl<'a> IdentityService<'a> {
    pub fn new(state: &'a AppState) -> Self {
        IdentityService { state }
    }
}
