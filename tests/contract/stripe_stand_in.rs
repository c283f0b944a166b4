//! Stripe's stand-in for the contract run (`tests/contract/run`): the test support's
//! `StripeFixture` on a free loopback port, so that `local`'s billing routes answer as they do
//! with Stripe configured instead of their 503 `BILLING_NOT_CONFIGURED`. Prints its address,
//! then serves until killed.

#[tokio::main]
async fn main() {
    let stripe = chief_tests::stripe::StripeFixture::start().await;
    println!("{}", stripe.base);
    std::future::pending::<()>().await;
}
