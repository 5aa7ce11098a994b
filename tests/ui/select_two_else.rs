// Two `else` branches: a compile error that says `select!` takes one at most.
fn main() {
    nbio::block_on(async {
        nbio::select! {
            v = std::future::ready(1) => v,
            else => 2,
            else => 3,
        }
    });
}
