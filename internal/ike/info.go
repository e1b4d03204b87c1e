package ike

import (
	"encoding/binary"
	"fmt"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// respondInformational answers an INFORMATIONAL request (RFC 7296 1.4):
// DELETE of the IKE SA, DELETE of Child SAs (answered with the DELETE of
// our half of each pair, RFC 7296 1.4.1), error notifies, and empty
// liveness checks.
func (sa *ikeSA) respondInformational(ps []wire.Payload) []wire.Payload {
	var resp []wire.Payload
	var ours [][]byte
	for _, p := range ps {
		switch p := p.(type) {
		case *wire.Delete:
			switch p.Protocol {
			case wire.ProtoIKE:
				sa.log.Info("peer deleted the IKE SA")
				sa.setState(StateDeleting)
				return nil // an empty response; Child SAs go with it
			case wire.ProtoESP:
				for _, spi := range p.SPIs {
					if len(spi) != 4 {
						continue
					}
					if c := sa.removeChildByOutSPI(binary.BigEndian.Uint32(spi)); c != nil {
						var b [4]byte
						binary.BigEndian.PutUint32(b[:], c.inSPI)
						ours = append(ours, b[:])
					}
				}
			}
		case *wire.Notify:
			if p.NotifyType == wire.NotifyAuthenticationFailed {
				// The initiator could not verify us (RFC 7296 2.21.2).
				sa.log.Warn("peer reports AUTHENTICATION_FAILED; deleting IKE SA")
				sa.setState(StateDeleting)
				return nil
			}
			if p.NotifyType.IsError() {
				sa.log.Info("peer sent an error notify", "notify", p.NotifyType)
			}
		}
	}
	if len(ours) > 0 {
		resp = append(resp, &wire.Delete{Protocol: wire.ProtoESP, SPIs: ours})
	}
	return resp
}

func (sa *ikeSA) removeChildByOutSPI(outSPI uint32) *childSA {
	sa.mu.Lock()
	var found *childSA
	for i, c := range sa.children {
		if c.outSPI == outSPI {
			found = c
			sa.children = append(sa.children[:i:i], sa.children[i+1:]...)
			break
		}
	}
	sa.mu.Unlock()
	if found != nil {
		sa.uninstall(found)
	}
	return found
}

// deleteIKE deletes the IKE SA and its Child SAs, telling the peer in an
// INFORMATIONAL exchange (RFC 7296 1.4.1). The SA is gone afterwards even
// if the peer never answers.
func (sa *ikeSA) deleteIKE(tries int) error {
	defer sa.setState(StateDeleted)
	if sa.State() != StateEstablished {
		return nil
	}
	sa.setState(StateDeleting)
	sa.log.Info("deleting IKE SA")
	_, _, err := sa.exchange(wire.Informational, []wire.Payload{&wire.Delete{Protocol: wire.ProtoIKE}}, tries)
	if err != nil {
		return fmt.Errorf("ike: delete: %w", err)
	}
	return nil
}

// deleteChild deletes the named Child SA with an INFORMATIONAL DELETE of
// our inbound SPI; the peer answers with its own (RFC 7296 1.4.1).
func (sa *ikeSA) deleteChild(name string) error {
	sa.mu.Lock()
	var c *childSA
	for i, x := range sa.children {
		if x.cfg.Name == name {
			c = x
			sa.children = append(sa.children[:i:i], sa.children[i+1:]...)
			break
		}
	}
	sa.mu.Unlock()
	if c == nil {
		return fmt.Errorf("ike: no Child SA %q", name)
	}
	// Stop using it at once; the peer's half goes with its answer.
	sa.uninstall(c)
	var spi [4]byte
	binary.BigEndian.PutUint32(spi[:], c.inSPI)
	_, _, err := sa.exchange(wire.Informational, []wire.Payload{&wire.Delete{Protocol: wire.ProtoESP, SPIs: [][]byte{spi[:]}}}, sa.e.cfg.RetransmitTries)
	if err != nil {
		return fmt.Errorf("ike: delete child: %w", err)
	}
	return nil
}
