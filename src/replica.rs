//! Who executes a run or holds an agent lease: a replica's stable name, kept across restarts,
//! and the incarnation (one per process). A process that starts finds what an older
//! incarnation of its own name left behind — leases and unfinished runs of a process that
//! crashed — and releases them at once instead of waiting for them to time out.

use crate::config::{Config, DatabaseTarget};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaId {
    /// Stable across restarts of the same replica: `LETTA_REPLICA_ID`, or host name, port
    /// and database.
    pub name: String,
    /// New for every process.
    pub incarnation: String,
}

impl ReplicaId {
    /// This process's identity under `config`.
    pub fn for_process(config: &Config) -> Self {
        let incarnation = uuid::Uuid::new_v4().to_string();
        let name = match &config.replica_id {
            Some(name) => name.clone(),
            // An OS-chosen port is no identity: another process on this host may get the
            // same settings, so nothing of a previous process can be told to be ours.
            None if config.port == 0 => format!("ephemeral-{incarnation}"),
            None => format!(
                "{}:{}/{:016x}",
                host_name(),
                config.port,
                fnv1a(database_key(config).as_bytes())
            ),
        };
        ReplicaId { name, incarnation }
    }
}

/// What names the database, without credentials (the name is stored in the database).
fn database_key(config: &Config) -> String {
    match config.database() {
        DatabaseTarget::Postgres(url) | DatabaseTarget::SqliteUrl(url) => {
            crate::config::redact_url(&url)
        }
        DatabaseTarget::SqliteFile(path) => {
            let path = std::fs::canonicalize(&path).unwrap_or(path);
            path.display().to_string()
        }
    }
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A hash that stays the same across builds and Rust versions (std's does not promise to).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_stable_and_the_incarnation_is_not() {
        let mut config = Config::for_tests();
        config.port = 8300;
        config.data_dir = Some("/tmp/letta-replica-test".into());
        let a = ReplicaId::for_process(&config);
        let b = ReplicaId::for_process(&config);
        assert_eq!(a.name, b.name);
        assert_ne!(a.incarnation, b.incarnation);
        config.port = 8301;
        assert_ne!(ReplicaId::for_process(&config).name, a.name);
        config.port = 0;
        assert_ne!(
            ReplicaId::for_process(&config).name,
            ReplicaId::for_process(&config).name
        );
        config.replica_id = Some("worker-1".into());
        assert_eq!(ReplicaId::for_process(&config).name, "worker-1");
    }

    #[test]
    fn the_name_never_holds_a_password() {
        let mut config = Config::for_tests();
        config.port = 8300;
        config.pg_uri = Some("postgres://u:hunter2@db/letta".parse().unwrap());
        let mut other = config.clone();
        other.pg_uri = Some("postgres://u:other@db/letta".parse().unwrap());
        // The password is not part of the identity (a rotated password is the same replica).
        assert_eq!(
            ReplicaId::for_process(&config).name,
            ReplicaId::for_process(&other).name
        );
    }
}
