//! What the scope gate's read of a JSON-RPC body costs, before rmcp parses it again:
//! the `#[serde(untagged)]` read it used to make (serde buffers the whole body into its
//! `Content` tree first), the partial read it makes now (`method` and `params.name`,
//! borrowed; everything else skipped), and a full `serde_json::Value` parse for scale.
//!
//! `cargo bench -p mcp-server --bench scope_gate`; figures in docs/performance.md,
//! "One parse per request".

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

use std::borrow::Cow;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde::Deserialize;

/// The gate's types before issue 16, kept here to measure against.
mod untagged {
    use super::*;

    #[derive(Deserialize)]
    pub struct JsonRpcCall<'a> {
        #[serde(borrow, default)]
        pub method: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub params: Option<CallParams<'a>>,
    }

    #[derive(Deserialize)]
    pub struct CallParams<'a> {
        #[serde(borrow, default)]
        pub name: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub enum Envelope<'a> {
        #[serde(borrow)]
        One(JsonRpcCall<'a>),
        #[serde(borrow)]
        Batch(Vec<JsonRpcCall<'a>>),
    }

    pub fn called_tool(body: &[u8]) -> Option<String> {
        let calls = match serde_json::from_slice::<Envelope<'_>>(body).ok()? {
            Envelope::One(call) => vec![call],
            Envelope::Batch(calls) => calls,
        };
        calls.into_iter().find_map(|call| {
            if call.method.as_deref() != Some("tools/call") {
                return None;
            }
            Some(call.params?.name?.into_owned())
        })
    }
}

/// A `tools/call` of `greet` as an MCP client sends it: about 300 bytes.
fn realistic() -> Vec<u8> {
    br#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"greet","arguments":{"name":"Ada Lovelace"},"_meta":{"progressToken":"7f3c2a9e-1b4d-4c8e-9a61-2f0e5d7c3b18","io.modelcontextprotocol/related-task":{"taskId":"b2d1"}}},"extra":{"client":"mcp-inspector","version":"0.16.5","note":"padding to a typical size"}}"#.to_vec()
}

/// A `tools/call` whose arguments hold about 100 KB of nested JSON, `name` last.
fn large() -> Vec<u8> {
    let items: Vec<String> = (0..1_400)
        .map(|i| {
            format!(r#"{{"id":{i},"label":"item number {i}","tags":["a","b","c"],"w":{i}.5}}"#)
        })
        .collect();
    format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"arguments":{{"items":[{}]}},"name":"greet"}}}}"#,
        items.join(",")
    )
    .into_bytes()
}

fn reads(c: &mut Criterion) {
    let mut group = c.benchmark_group("scope_gate_read");
    for (label, body) in [("realistic", realistic()), ("large", large())] {
        // Every read must find the tool, or the comparison is of nothing.
        assert_eq!(untagged::called_tool(&body).as_deref(), Some("greet"));
        assert_eq!(
            mcp_server::internals::called_tool(&body).as_deref(),
            Some("greet")
        );
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("untagged", label), &body, |b, body| {
            b.iter(|| untagged::called_tool(black_box(body)))
        });
        group.bench_with_input(BenchmarkId::new("partial", label), &body, |b, body| {
            b.iter(|| {
                let body = black_box(body.as_slice());
                (mcp_server::internals::is_batch(body)
                    || mcp_server::internals::called_tool(body).is_some())
                .then_some(())
            })
        });
        group.bench_with_input(BenchmarkId::new("full_value", label), &body, |b, body| {
            b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(body)).ok())
        });
    }
    group.finish();
}

criterion_group!(benches, reads);
criterion_main!(benches);
