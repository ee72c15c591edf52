//! Core-memory blocks: creation under the character-limit rule, partial updates whose limit
//! check runs inside the store's write, listing, deletion, and the agents a block is in.

use serde_json::json;

use super::{ServiceError, ServiceResult};
use crate::schemas::block::{Block, BlockUpdate, CreateBlock};
use crate::schemas::common::char_len;
use crate::schemas::new_id;
use crate::schemas::org::Actor;
use crate::store::BlockFilter;
use crate::store::DynStore;

/// Filled in for a `persona` block created with an agent when it has no description.
pub const DEFAULT_PERSONA_DESCRIPTION: &str = "The persona block: Stores details about your current persona, guiding how you behave and respond. This helps you to maintain consistency and personality in your interactions.";

/// Filled in for a `human` block created with an agent when it has no description.
pub const DEFAULT_HUMAN_DESCRIPTION: &str = "The human block: Stores key details about the person you are conversing with, allowing for more personalized and friend-like conversation.";

pub struct BlockService<'a> {
    store: &'a DynStore,
}

impl<'a> BlockService<'a> {
    pub fn new(store: &'a DynStore) -> Self {
        BlockService { store }
    }

    /// A new block for an agent's `memory_blocks`: the limit is checked (422 located at
    /// `["body"]`), and `human`/`persona` blocks without a description get the default one.
    /// Nothing is written.
    pub fn new_block(
        actor: &Actor,
        req: CreateBlock,
        creator: Option<&str>,
    ) -> ServiceResult<Block> {
        let mut block = build_block(actor, req, creator)?;
        if block.description.is_none() {
            block.description = match block.label() {
                "persona" => Some(DEFAULT_PERSONA_DESCRIPTION.to_owned()),
                "human" => Some(DEFAULT_HUMAN_DESCRIPTION.to_owned()),
                _ => None,
            };
        }
        Ok(block)
    }

    /// `POST /v1/blocks/`: a standalone block owned by the actor's organization.
    pub async fn create(&self, actor: &Actor, req: CreateBlock) -> ServiceResult<Block> {
        let block = build_block(actor, req, Some(&actor.user_id))?;
        self.store.create_block(&block).await?;
        Ok(block)
    }

    /// The block, or 404 `Block not found`.
    pub async fn get(&self, actor: &Actor, block_id: &str) -> ServiceResult<Block> {
        self.store
            .get_block(&actor.organization_id, block_id)
            .await?
            .ok_or_else(|| ServiceError::NotFound("Block not found".to_owned()))
    }

    pub async fn list(&self, actor: &Actor, filter: &BlockFilter) -> ServiceResult<Vec<Block>> {
        Ok(self
            .store
            .list_blocks(&actor.organization_id, filter)
            .await?)
    }

    /// All blocks of the organization, templates included.
    pub async fn count(&self, actor: &Actor) -> ServiceResult<i64> {
        Ok(self.store.count_blocks(&actor.organization_id).await?)
    }

    /// Writes the present fields of `update`. A body whose own `value` exceeds its own
    /// `limit` is a 422; a result whose value exceeds its limit is refused inside the store's
    /// write with a 400, so a concurrent change cannot slip past the check.
    pub async fn modify(
        &self,
        actor: &Actor,
        block_id: &str,
        update: BlockUpdate,
    ) -> ServiceResult<Block> {
        if let (Some(value), Some(limit)) = (&update.value, update.limit) {
            let len = char_len(value);
            if len as i64 > limit {
                let what = match &update.label {
                    Some(label) => format!("block labelled '{label}'"),
                    None => "the updated block".to_owned(),
                };
                return Err(ServiceError::value_error(
                    &["body"],
                    exceeds_message(limit, len, &what),
                    json!({ "value": value, "limit": limit }),
                ));
            }
        }
        let org = &actor.organization_id;
        let editor = actor.user_id.clone();
        // Applied to the block as stored, inside the store's versioned write, so a concurrent
        // edit of other fields is never lost.
        let edit = move |block: &mut Block| {
            apply_update(block, update.clone());
            block.last_updated_by_id = Some(editor.clone());
            within_limit(block)
        };
        self.store
            .edit_block(org, block_id, &edit)
            .await?
            .ok_or_else(|| orm_not_found(block_id))
    }

    /// Deletes the block and detaches it everywhere; returns what was deleted.
    pub async fn delete(&self, actor: &Actor, block_id: &str) -> ServiceResult<Block> {
        self.store
            .delete_block(&actor.organization_id, block_id)
            .await?
            .ok_or_else(|| orm_not_found(block_id))
    }
}

/// A block from a create request, refused with a 422 when the value exceeds the limit.
fn build_block(actor: &Actor, req: CreateBlock, creator: Option<&str>) -> ServiceResult<Block> {
    let len = char_len(&req.value);
    if len as i64 > req.limit {
        let input = json!({ "value": req.value, "limit": req.limit, "label": req.label });
        return Err(ServiceError::value_error(
            &["body"],
            exceeds_message(req.limit, len, &format!("block labelled '{}'", req.label)),
            input,
        ));
    }
    Ok(Block {
        value: req.value,
        limit: req.limit,
        name: req.name,
        is_template: req.is_template,
        preserve_on_migration: Some(req.preserve_on_migration.unwrap_or(false)),
        label: Some(req.label),
        read_only: req.read_only,
        description: req.description,
        metadata: Some(req.metadata.unwrap_or_default()),
        id: new_id("block"),
        organization_id: Some(actor.organization_id.clone()),
        created_by_id: creator.map(str::to_owned),
        last_updated_by_id: creator.map(str::to_owned),
    })
}

/// The text of the 422 a create or update body gets when its value is over its limit;
/// `what` names the block.
pub fn exceeds_message(limit: i64, len: usize, what: &str) -> String {
    format!("Edit failed: Exceeds {limit} character limit (requested {len}) - {what}.")
}

/// The rule every stored block obeys; the error is the 400 text of an update that breaks it.
pub fn within_limit(block: &Block) -> Result<(), String> {
    let len = char_len(&block.value);
    if len as i64 > block.limit {
        return Err(format!(
            "Value length ({len}) exceeds the limit ({}) for block with label '{}' and id '{}'.",
            block.limit,
            block.label(),
            block.id
        ));
    }
    Ok(())
}

/// Copies the present fields of `update` onto `block` (absent and null fields are ignored).
pub fn apply_update(block: &mut Block, update: BlockUpdate) {
    let BlockUpdate {
        value,
        limit,
        name,
        is_template,
        preserve_on_migration,
        label,
        read_only,
        description,
        metadata,
    } = update;
    if let Some(v) = value {
        block.value = v;
    }
    if let Some(v) = limit {
        block.limit = v;
    }
    if let Some(v) = name {
        block.name = Some(v);
    }
    if let Some(v) = is_template {
        block.is_template = v;
    }
    if let Some(v) = preserve_on_migration {
        block.preserve_on_migration = Some(v);
    }
    if let Some(v) = label {
        block.label = Some(v);
    }
    if let Some(v) = read_only {
        block.read_only = v;
    }
    if let Some(v) = description {
        block.description = Some(v);
    }
    if let Some(v) = metadata {
        block.metadata = Some(v);
    }
}

/// The original's not-found text for a block looked up by id (only the prefix is stable).
fn orm_not_found(block_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Block not found with id='{block_id}'"))
}
