//! The oss-trigger function binary: settings from the environment, clients
//! from the invocation's credentials, logic in the library.

fn main() {
    println!("oss-trigger: wiring pending");
}
