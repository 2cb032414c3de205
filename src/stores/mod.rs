//! The stores beneath the gateway's state: PostgreSQL and Redis connections, the SQLite
//! file opener, and the stored Responses API objects.

pub mod pg;
pub mod redis_conn;
pub mod response_store;
pub mod sqlite_file;
