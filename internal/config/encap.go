package config

// parseEncap checks connections.<conn>.encap (swanctl.conf(5): force UDP
// encapsulation of ESP, RFC 3948, by faking NAT detection). goipsec's data
// plane only speaks ESP in UDP, so it always behaves as with encap = yes;
// encap = no (strongSwan's default: raw ESP when no NAT is detected) needs
// raw ESP sockets, which goipsec does not have yet, and is refused rather
// than silently not honoured.
func parseEncap(v *Value, key string) error {
	on, err := parseYesNo(v, key)
	if err != nil {
		return err
	}
	if !on {
		return unsupported(v.Pos, key, "encap = no (ESP without UDP encapsulation, which needs raw ESP sockets; goipsec always encapsulates, as with encap = yes) is")
	}
	return nil
}
