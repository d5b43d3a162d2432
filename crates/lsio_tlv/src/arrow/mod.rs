//! Arrow over sockets: tables multiplexed over one TLV stream ([`mux`]), and plain Arrow IPC
//! streams served from and received into files and sockets ([`ipc_socket`]).

pub(crate) mod ipc_backend;
pub(crate) mod ipc_socket;
pub(crate) mod mux;
