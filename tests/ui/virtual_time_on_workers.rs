#[nbio::main(worker_threads = 2, virtual_time)]
async fn main() {}
