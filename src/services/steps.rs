//! Steps: the record of each model call, readable by the organization that made it, with
//! thumbs-up/down feedback.

use super::{ServiceError, ServiceResult};
use crate::schemas::org::Actor;
use crate::schemas::run::{FeedbackType, Step};
use crate::store::DynStore;
use crate::store::StepFilter;

fn step_not_found() -> ServiceError {
    ServiceError::NotFound("Step not found".to_owned())
}

pub struct StepService<'a> {
    store: &'a DynStore,
}

impl<'a> StepService<'a> {
    pub fn new(store: &'a DynStore) -> Self {
        StepService { store }
    }

    pub async fn list(&self, actor: &Actor, filter: &StepFilter) -> ServiceResult<Vec<Step>> {
        Ok(self
            .store
            .list_steps(&actor.organization_id, filter)
            .await?)
    }

    pub async fn get(&self, actor: &Actor, step_id: &str) -> ServiceResult<Step> {
        self.store
            .get_step(&actor.organization_id, step_id)
            .await?
            .ok_or_else(step_not_found)
    }

    /// Sets or (with `None`) clears the step's feedback.
    pub async fn set_feedback(
        &self,
        actor: &Actor,
        step_id: &str,
        feedback: Option<FeedbackType>,
    ) -> ServiceResult<Step> {
        self.store
            .set_step_feedback(&actor.organization_id, step_id, feedback)
            .await?
            .ok_or_else(step_not_found)
    }
}
