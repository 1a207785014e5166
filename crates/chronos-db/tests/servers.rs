//! The conformance suite on real servers: SQLite metadata with S3 (s3s-fs) and Azure
//! (Azurite) payloads. Start the servers with `scripts/test-servers.sh start` and export
//! `scripts/test-servers.sh env`; without them these tests are skipped (failed under CI).

#[macro_use]
mod conformance;

use conformance::servers::{Meta, Servers, Space};

mod sqlite_s3 {
    use super::*;
    conformance_suite!(Servers {
        meta: Meta::Sqlite,
        space: Space::S3
    });
}

mod sqlite_azure {
    use super::*;
    conformance_suite!(Servers {
        meta: Meta::Sqlite,
        space: Space::Azure
    });
}

mod mongo_s3 {
    use super::*;
    conformance_suite!(Servers {
        meta: Meta::Mongo,
        space: Space::S3
    });
}

mod mongo_azure {
    use super::*;
    conformance_suite!(Servers {
        meta: Meta::Mongo,
        space: Space::Azure
    });
}

mod mongo_local {
    use super::*;
    conformance_suite!(Servers {
        meta: Meta::Mongo,
        space: Space::Local
    });
}
