package config

// parseEncap parses connections.<conn>.encap (swanctl.conf(5), default
// no): yes forces UDP encapsulation of ESP (RFC 3948) by faking NAT
// detection (RFC 7296 2.23); no sends raw ESP (IP protocol 50) unless a
// NAT is detected, as strongSwan does.
func parseEncap(v *Value, key string) (bool, error) {
	return parseYesNo(v, key)
}
