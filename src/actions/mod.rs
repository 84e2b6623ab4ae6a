//! Actions: the code that changes the system (stopping processes, binding
//! ports to test them). Commands decide and ask; these modules act, and
//! nothing else in berth does.

pub mod bind;
pub mod privileges;
pub mod signal;
