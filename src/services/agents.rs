use super::AppState;
pub struct AgentService<'a> {
    #[allow(dead_code)]
    state: &'a AppState,
}
impl<'a> AgentService<'a> {
    pub fn new(state: &'a AppState) -> Self { AgentService { state } }
}
