"""The simulated issuer and the servers that put it on a socket (`d400 acquirer serve`).

Simulator side, not client side: the adapters in `acquirers/` talk to it as they would to a real
acquirer. It imports from `acquirers/` only the protocol's value types (`base`) and the wire
formats the adapters define (header names, the ISO 8583 codec), so each format is written once;
no adapter imports this package except `acquirers.simulator`, which calls the issuer in-process."""
