//! Store conformance: sandbox configs (one per type and organization, upserted) and their
//! environment variables (unique key per config, gone with their config).

use letta_rs::schemas::new_id;
use letta_rs::schemas::sandbox::{SandboxConfig, SandboxEnvironmentVariable, SandboxType};
use letta_rs::store::{DynStore, StoreError};
use serde_json::{Map, Value, json};

use crate::helpers;
use crate::store_fixtures::ts;
use crate::store_test;

fn settings(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("object"),
    }
}

fn config(org: &str, kind: SandboxType, settings_: Value, created: i64) -> SandboxConfig {
    SandboxConfig {
        created_by_id: Some("user-a".to_owned()),
        last_updated_by_id: Some("user-a".to_owned()),
        created_at: Some(ts(created)),
        updated_at: None,
        id: new_id("sandbox"),
        kind,
        organization_id: Some(org.to_owned()),
        config: settings(settings_),
    }
}

fn var(
    org: &str,
    config_id: &str,
    key: &str,
    value: &str,
    created: i64,
) -> SandboxEnvironmentVariable {
    SandboxEnvironmentVariable {
        created_by_id: Some("user-a".to_owned()),
        last_updated_by_id: Some("user-a".to_owned()),
        created_at: Some(ts(created)),
        updated_at: None,
        id: new_id("sandbox-env"),
        key: key.to_owned(),
        value: value.to_owned(),
        description: None,
        organization_id: Some(org.to_owned()),
        sandbox_config_id: config_id.to_owned(),
    }
}

fn ids<T>(v: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    v.iter().map(|x| id(x).to_owned()).collect()
}

store_test!(
    configs_are_one_per_type_and_upserted,
    |store: DynStore, org_id: String| async move {
        let local = config(&org_id, SandboxType::Local, json!({"sandbox_dir": "/a"}), 1);
        let stored = store.upsert_sandbox_config(&local).await.unwrap();
        assert_eq!(stored.id, local.id);
        assert_eq!(stored.created_at, Some(ts(1)));
        assert_eq!(stored.updated_at, Some(ts(1)));
        assert_eq!(
            Value::Object(stored.config.clone()),
            json!({"sandbox_dir": "/a"})
        );

        // Same type again: the existing row takes the new settings, keeping id and creator.
        let mut again = config(&org_id, SandboxType::Local, json!({"sandbox_dir": "/b"}), 5);
        again.created_by_id = Some("user-b".to_owned());
        again.last_updated_by_id = Some("user-b".to_owned());
        let updated = store.upsert_sandbox_config(&again).await.unwrap();
        assert_eq!(updated.id, local.id);
        assert_eq!(updated.created_by_id.as_deref(), Some("user-a"));
        assert_eq!(updated.last_updated_by_id.as_deref(), Some("user-b"));
        assert_eq!(updated.created_at, Some(ts(1)));
        assert_eq!(updated.updated_at, Some(ts(5)));
        assert_eq!(
            Value::Object(updated.config.clone()),
            json!({"sandbox_dir": "/b"})
        );

        // Unchanged settings leave the row alone.
        let same = config(&org_id, SandboxType::Local, json!({"sandbox_dir": "/b"}), 9);
        assert_eq!(store.upsert_sandbox_config(&same).await.unwrap(), updated);

        // get-or-create never overwrites.
        let other = config(
            &org_id,
            SandboxType::Local,
            json!({"sandbox_dir": "/c"}),
            10,
        );
        assert_eq!(
            store.get_or_create_sandbox_config(&other).await.unwrap(),
            updated
        );
        let e2b = config(&org_id, SandboxType::E2b, json!({"timeout": 300}), 11);
        let e2b_stored = store.get_or_create_sandbox_config(&e2b).await.unwrap();
        assert_eq!(e2b_stored.id, e2b.id);
        assert_eq!(e2b_stored.kind, SandboxType::E2b);

        assert_eq!(
            store
                .get_sandbox_config_by_type(&org_id, SandboxType::E2b)
                .await
                .unwrap()
                .map(|c| c.id),
            Some(e2b.id.clone())
        );
        assert_eq!(
            store.get_sandbox_config(&org_id, &local.id).await.unwrap(),
            Some(updated.clone())
        );

        // Another organization sees none of it and has its own per-type slot.
        let (other_org, _) = helpers::new_org_and_user(&store).await;
        assert_eq!(
            store
                .get_sandbox_config(&other_org.id, &local.id)
                .await
                .unwrap(),
            None
        );
        assert!(
            store
                .list_sandbox_configs(&other_org.id, None, None, None)
                .await
                .unwrap()
                .is_empty()
        );
        let theirs = config(&other_org.id, SandboxType::Local, json!({}), 2);
        assert_eq!(
            store.upsert_sandbox_config(&theirs).await.unwrap().id,
            theirs.id
        );
        assert_eq!(
            store
                .update_sandbox_config(
                    &other_org.id,
                    &local.id,
                    SandboxType::Local,
                    &Map::new(),
                    None
                )
                .await
                .unwrap(),
            None
        );
        assert!(
            !store
                .delete_sandbox_config(&other_org.id, &local.id)
                .await
                .unwrap()
        );
    }
);

store_test!(
    configs_list_update_and_delete,
    |store: DynStore, org_id: String| async move {
        let local = store
            .upsert_sandbox_config(&config(&org_id, SandboxType::Local, json!({}), 2))
            .await
            .unwrap();
        let e2b = store
            .upsert_sandbox_config(&config(&org_id, SandboxType::E2b, json!({}), 1))
            .await
            .unwrap();
        let all = store
            .list_sandbox_configs(&org_id, None, None, None)
            .await
            .unwrap();
        assert_eq!(ids(&all, |c| &c.id), vec![e2b.id.clone(), local.id.clone()]);
        let page = store
            .list_sandbox_configs(&org_id, None, None, Some(1))
            .await
            .unwrap();
        assert_eq!(ids(&page, |c| &c.id), vec![e2b.id.clone()]);
        let next = store
            .list_sandbox_configs(&org_id, None, Some(&e2b.id), Some(1))
            .await
            .unwrap();
        assert_eq!(ids(&next, |c| &c.id), vec![local.id.clone()]);
        let only_local = store
            .list_sandbox_configs(&org_id, Some(SandboxType::Local), None, None)
            .await
            .unwrap();
        assert_eq!(ids(&only_local, |c| &c.id), vec![local.id.clone()]);
        assert!(
            store
                .list_sandbox_configs(&org_id, None, Some("sandbox-unknown"), None)
                .await
                .unwrap()
                .is_empty()
        );

        // Update only within the stored type.
        let new_settings = settings(json!({"sandbox_dir": "/x", "use_venv": true}));
        assert_eq!(
            store
                .update_sandbox_config(&org_id, &local.id, SandboxType::E2b, &new_settings, None)
                .await
                .unwrap(),
            None
        );
        let updated = store
            .update_sandbox_config(
                &org_id,
                &local.id,
                SandboxType::Local,
                &new_settings,
                Some("user-z"),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(updated.config, new_settings);
        assert_eq!(updated.last_updated_by_id.as_deref(), Some("user-z"));
        assert!(updated.updated_at > local.updated_at);

        // Delete takes the variables along.
        let v = store
            .upsert_sandbox_env_var(&var(&org_id, &local.id, "K", "secret", 1))
            .await
            .unwrap()
            .unwrap();
        assert!(
            store
                .delete_sandbox_config(&org_id, &local.id)
                .await
                .unwrap()
        );
        assert!(
            !store
                .delete_sandbox_config(&org_id, &local.id)
                .await
                .unwrap()
        );
        assert_eq!(
            store.get_sandbox_config(&org_id, &local.id).await.unwrap(),
            None
        );
        assert_eq!(
            store.get_sandbox_env_var(&org_id, &v.id).await.unwrap(),
            None
        );
    }
);

store_test!(
    env_vars_are_unique_per_config_and_scoped,
    |store: DynStore, org_id: String| async move {
        let cfg = store
            .upsert_sandbox_config(&config(&org_id, SandboxType::Local, json!({}), 1))
            .await
            .unwrap();
        let mut a = var(&org_id, &cfg.id, "A", "1", 1);
        a.description = Some("first".to_owned());
        let a = store.upsert_sandbox_env_var(&a).await.unwrap().unwrap();
        let b = store
            .upsert_sandbox_env_var(&var(&org_id, &cfg.id, "B", "2", 2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.value, "1");
        assert_eq!(a.description.as_deref(), Some("first"));

        // The same key again sets the value in place; no description keeps the old one.
        let again = store
            .upsert_sandbox_env_var(&var(&org_id, &cfg.id, "A", "one", 3))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.id, a.id);
        assert_eq!(again.value, "one");
        assert_eq!(again.description.as_deref(), Some("first"));
        assert_eq!(again.created_at, a.created_at);

        let all = store
            .list_sandbox_env_vars(&org_id, &cfg.id, None, None)
            .await
            .unwrap();
        assert_eq!(ids(&all, |v| &v.id), vec![a.id.clone(), b.id.clone()]);
        let next = store
            .list_sandbox_env_vars(&org_id, &cfg.id, Some(&a.id), Some(5))
            .await
            .unwrap();
        assert_eq!(ids(&next, |v| &v.id), vec![b.id.clone()]);

        // Renaming onto a taken key is a unique violation and changes nothing.
        let mut clash = b.clone();
        clash.key = "A".to_owned();
        let err = store.update_sandbox_env_var(&clash).await.unwrap_err();
        assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
        assert_eq!(
            store.get_sandbox_env_var(&org_id, &b.id).await.unwrap(),
            Some(b.clone())
        );

        let mut changed = b.clone();
        changed.value = "two".to_owned();
        changed.description = Some("d".to_owned());
        assert!(store.update_sandbox_env_var(&changed).await.unwrap());
        let read = store
            .get_sandbox_env_var(&org_id, &b.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (read.value.as_str(), read.description.as_deref()),
            ("two", Some("d"))
        );

        // Another organization can neither see, write under, change nor delete them.
        let (other, _) = helpers::new_org_and_user(&store).await;
        assert_eq!(
            store.get_sandbox_env_var(&other.id, &a.id).await.unwrap(),
            None
        );
        assert!(
            store
                .list_sandbox_env_vars(&other.id, &cfg.id, None, None)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .upsert_sandbox_env_var(&var(&other.id, &cfg.id, "A", "stolen", 4))
                .await
                .unwrap(),
            None
        );
        let mut foreign = a.clone();
        foreign.organization_id = Some(other.id.clone());
        foreign.value = "stolen".to_owned();
        assert!(!store.update_sandbox_env_var(&foreign).await.unwrap());
        assert!(
            !store
                .delete_sandbox_env_var(&other.id, &a.id)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .get_sandbox_env_var(&org_id, &a.id)
                .await
                .unwrap()
                .unwrap()
                .value,
            "one"
        );

        // Unknown config: nothing written.
        assert_eq!(
            store
                .upsert_sandbox_env_var(&var(&org_id, "sandbox-missing", "X", "x", 5))
                .await
                .unwrap(),
            None
        );
        assert!(store.delete_sandbox_env_var(&org_id, &a.id).await.unwrap());
        assert!(!store.delete_sandbox_env_var(&org_id, &a.id).await.unwrap());
    }
);
