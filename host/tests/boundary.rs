//! The WIT boundary: every engine error crosses it and comes back with the same `Display`
//! text, and a real refusal prints the same natively and through the component.

use std::io;
use std::sync::OnceLock;
use veles::{CollectionConfig, Error, Limit, Metric, Point, StorageError as S, VectorProblem as P};
use veles_host::wit::{error_from_wit, error_to_wit};
use veles_host::{Backend, ComponentBackend, HostError, Limits, NativeBackend, Runtime};

/// One of every error the engine can report (every variant, every nested variant).
fn every_error() -> Vec<Error> {
    let io_kinds = [
        io::ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied,
        io::ErrorKind::AlreadyExists,
        io::ErrorKind::StorageFull,
        io::ErrorKind::ReadOnlyFilesystem,
        io::ErrorKind::Unsupported,
        io::ErrorKind::Interrupted,
        io::ErrorKind::InvalidInput,
        io::ErrorKind::UnexpectedEof,
        io::ErrorKind::Other,
    ];
    let mut all = vec![
        Error::DimensionMismatch {
            expected: 4,
            actual: 3,
            id: Some(9),
        },
        Error::DimensionMismatch {
            expected: 4,
            actual: 5,
            id: None,
        },
        Error::InvalidName {
            name: "a/b".into(),
            reason: "a name has characters outside [A-Za-z0-9_-]".into(),
        },
        Error::InvalidConfig("dimension must be at least 1".into()),
        Error::InvalidArgument("k must be at least 1".into()),
        Error::InvalidFilter("unknown operator".into()),
        Error::InvalidPayload {
            id: Some(7),
            reason: "not an object".into(),
        },
        Error::InvalidPayload {
            id: None,
            reason: "not JSON".into(),
        },
        Error::CollectionNotFound("c".into()),
        Error::CollectionExists("c".into()),
        Error::ReadOnly,
        Error::Storage(S::PreviousIo),
        Error::Storage(S::Corrupted {
            file: "collections/c/wal".into(),
            offset: 4096,
            reason: "bad frame".into(),
        }),
        Error::Storage(S::UnsupportedVersion {
            file: "VELES".into(),
            found: 9,
            supported: 1,
        }),
        Error::Storage(S::Locked { path: "db".into() }),
    ];
    for problem in [
        P::NotFinite { index: 2 },
        P::ZeroNorm,
        P::NotBinary { index: 1 },
        P::NormOverflow,
    ] {
        all.push(Error::InvalidVector {
            id: Some(3),
            problem,
        });
    }
    // Every limit, from the engine's complete list.
    for limit in Limit::ALL {
        all.push(Error::LimitExceeded {
            limit,
            max: 10,
            actual: 11,
        });
    }
    for kind in io_kinds {
        all.push(Error::Storage(S::Io {
            path: "collections/c/vectors-1".into(),
            op: "write".into(),
            source: io::Error::new(kind, "No space left on device (os error 28)"),
        }));
    }
    all
}

#[test]
fn every_error_crosses_the_boundary_with_its_text_and_kind() {
    for e in every_error() {
        let text = e.to_string();
        let kind = match &e {
            Error::Storage(S::Io { source, .. }) => Some(source.kind()),
            _ => None,
        };
        let back = error_from_wit(error_to_wit(e));
        assert_eq!(back.to_string(), text);
        if let (Some(kind), Error::Storage(S::Io { source, .. })) = (kind, &back) {
            assert_eq!(source.kind(), kind, "{text}");
        }
    }
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new().expect("the component loads"))
}

#[test]
fn a_refusal_prints_the_same_natively_and_through_the_component() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut native = NativeBackend::open(a.path()).unwrap();
    let mut component = ComponentBackend::open(runtime(), b.path(), &Limits::default()).unwrap();
    let text = |r: Result<(), HostError>| r.unwrap_err().to_string();
    for db in [&mut native as &mut dyn Backend, &mut component] {
        db.create_collection("c", CollectionConfig::new(2, Metric::Cosine))
            .unwrap();
    }
    type Call = fn(&mut dyn Backend) -> Result<(), HostError>;
    let calls: [Call; 4] = [
        |db| db.create_collection("a/b", CollectionConfig::new(2, Metric::Dot)),
        |db| db.upsert("c", &[Point::new(1, vec![0.0, 0.0])]),
        |db| db.upsert("c", &[Point::new(1, vec![1.0])]),
        |db| db.len("nope").map(drop),
    ];
    for call in calls {
        let (n, c) = (text(call(&mut native)), text(call(&mut component)));
        assert_eq!(n, c);
    }
    // Every function of the interface is reachable through the host library.
    for db in [&mut native as &mut dyn Backend, &mut component] {
        assert_eq!(db.collection_name("c").unwrap(), "c");
        assert_eq!(db.len("c").unwrap(), 0);
        db.flush_all().unwrap();
    }
}
