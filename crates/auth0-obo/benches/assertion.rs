//! The cost of Private Key JWT: one client assertion signed per exchange attempt
//! (never per tool call: exchanged tokens are cached). RSA signing dominates it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use auth0_obo::{AssertionAlgorithm, ClientAssertionKey};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};

fn pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n")
}

fn client_assertion(c: &mut Criterion) {
    let rsa = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let rsa = pem(AsDer::<Pkcs8V1Der<'static>>::as_der(&rsa).unwrap().as_ref());
    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let ec = pem(ec.to_pkcs8v1().unwrap().as_ref());
    for (alg, pem) in [
        (AssertionAlgorithm::Rs256, &rsa),
        (AssertionAlgorithm::Ps256, &rsa),
        (AssertionAlgorithm::Es256, &ec),
    ] {
        let key = ClientAssertionKey::from_pem(pem.as_bytes(), alg).unwrap();
        c.bench_function(&format!("client_assertion_{alg}"), |b| {
            b.iter(|| {
                auth0_obo::fuzzing::client_assertion(
                    black_box(&key),
                    "mcp-server-client",
                    "https://tenant.us.auth0.com/",
                )
                .unwrap()
            });
        });
    }
}

criterion_group!(benches, client_assertion);
criterion_main!(benches);
