#[nbio::test(threads = 2)]
async fn a_test() {}

fn main() {}
