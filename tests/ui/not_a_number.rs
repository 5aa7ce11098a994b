#[nbio::main(seed = "seven")]
async fn main() {}
