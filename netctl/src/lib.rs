//! Bridge networks, IPAM, veth pairs and network namespaces, the embedded DNS server and
//! port publishing. Knows nothing of compose. (Work of the netctl issue; empty until then.)
