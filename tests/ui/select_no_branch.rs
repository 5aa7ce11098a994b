// A `select!` with nothing in it: a compile error that says what a branch looks like.
fn main() {
    nbio::block_on(async {
        let _: () = nbio::select! {};
    });
}
