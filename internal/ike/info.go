package ike

import (
	"encoding/binary"
	"errors"
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
				for _, c := range sa.childList() {
					if c.cfg.CloseAction == ActionRestart && !c.rekeyed {
						sa.restart = appendOnce(sa.restart, c.cfg)
					}
					if c.cfg.CloseAction == ActionTrap && !c.rekeyed {
						sa.trapChild(c.cfg)
					}
				}
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
						sa.noteChildDeleted(c)
						if c.cfg.CloseAction == ActionRestart && !c.rekeyed && !sa.hasChild(c.cfg.Name) {
							// close_action = start: set it up again once this exchange is over.
							sa.pending = append(sa.pending, command{kind: cmdCreateChild, cfg: c.cfg, reply: make(chan error, 1)})
						}
						if c.cfg.CloseAction == ActionTrap && !c.rekeyed && !sa.hasChild(c.cfg.Name) {
							sa.trapChild(c.cfg)
						}
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
		sa.retire(found)
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
	// Its Child SAs go with it (RFC 7296 1.4.1): nothing new is sent on
	// them while the DELETE is out, which may take the whole
	// retransmission schedule if the peer is gone; traffic moves to
	// another SA for the same selectors if there is one (unique =
	// replace). Inbound packets are still taken until the end.
	for _, c := range sa.childList() {
		sa.retireOutbound(c)
	}
	_, _, err := sa.exchange(wire.Informational, []wire.Payload{&wire.Delete{Protocol: wire.ProtoIKE}}, tries)
	if err != nil && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("ike: delete: %w", err)
	}
	return nil
}

// deleteChild deletes the named Child SA with an INFORMATIONAL DELETE of
// our inbound SPI; the peer answers with its own (RFC 7296 1.4.1).
func (sa *ikeSA) deleteChild(name string) error {
	var c *childSA
	for _, x := range sa.childList() {
		if x.cfg.Name == name {
			c = x
			break
		}
	}
	if c == nil {
		return fmt.Errorf("ike: no Child SA %q", name)
	}
	return sa.deleteChildSA(c)
}
