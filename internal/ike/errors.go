package ike

import (
	"errors"
	"fmt"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

var (
	// ErrTimeout means the peer did not answer a request after every
	// retransmission (RFC 7296 2.4).
	ErrTimeout = errors.New("ike: peer did not answer (retransmissions exhausted)")
	// ErrNoSuchPeer means a connection name is not configured.
	ErrNoSuchPeer = errors.New("ike: no such connection")
	// ErrClosed means the engine or the IKE SA is shutting down.
	ErrClosed = errors.New("ike: shutting down")

	errIntegrity = errors.New("ike: integrity check of encrypted payload failed")
)

// NotifyError is an error notification received from (or sent to) the
// peer, such as AUTHENTICATION_FAILED or NO_PROPOSAL_CHOSEN (RFC 7296 3.10.1).
type NotifyError struct {
	Type wire.NotifyType
	// Sent is true when we sent the notification, false when the peer did.
	Sent bool
	// Detail says what we checked, for logs and the CLI.
	Detail string
}

func (e *NotifyError) Error() string {
	msg := fmt.Sprintf("peer sent %s", e.Type)
	if e.Sent {
		msg = fmt.Sprintf("%s (we told the peer)", e.Type)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func errMalformed(msg string) error { return fmt.Errorf("%w: %s", wire.ErrMalformed, msg) }
