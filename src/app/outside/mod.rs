//! Requests from outside the grid (decision 0032): the city's 12345 platform (work orders in,
//! status back), Open311 GeoReport v2 apps, and a resident's own status page. All three land in
//! the same workflow, clocks and audit as a grid worker's filing.
//!
//! - [`clients`]: the outside systems, their keys and signatures, their category maps;
//! - [`orders`]: a work order received (idempotent on its external id), landed, read back;
//! - [`status`]: the statuses pushed back to the platform with the action that caused them;
//! - [`links`]: the resident's link, his page and his rating;
//! - [`open311`]: the GeoReport v2 services and requests.

pub mod clients;
pub mod links;
pub mod open311;
pub mod orders;
pub mod status;
