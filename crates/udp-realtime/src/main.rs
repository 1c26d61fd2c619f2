mod audio;
mod jitter;
mod wire;
fn main() {}
