package ike

import (
	"errors"
	"testing"

	wire "github.com/goipsec/goipsec/internal/wire/ike"
)

// requestsSent is how many requests the connection's IKE SA on p has
// sent: 2 after IKE_SA_INIT and IKE_AUTH, 3 when the first Child SA
// needed its own CREATE_CHILD_SA (RFC 6023).
func requestsSent(t *testing.T, p *testPeer) uint32 {
	t.Helper()
	sas := p.e.connSAs("site")
	if len(sas) != 1 {
		t.Fatalf("%d IKE SAs", len(sas))
	}
	sa := sas[0]
	var n uint32
	done := make(chan struct{})
	// nextReqID belongs to the SA goroutine; a command reads it there.
	go func() {
		defer close(done)
		_ = sa.command(ctxT(t), command{kind: cmdWake})
	}()
	<-done
	sa.mu.Lock()
	n = sa.nextReqID
	sa.mu.Unlock()
	return n
}

// TestChildless: childless IKE SAs (RFC 6023) under each combination of
// the two sides' policies that matters.
func TestChildless(t *testing.T) {
	for _, tc := range []struct {
		name         string
		left, right  string
		ikeOnly      bool  // InitiateIKE instead of Initiate(site, net)
		wantErr      error // nil: success
		wantRequests uint32
		wantChild    bool
	}{
		{name: "ike-only", ikeOnly: true, wantRequests: 2},
		{name: "allow-puts-child-in-auth", wantRequests: 2, wantChild: true},
		{name: "prefer", left: ChildlessPrefer, wantRequests: 3, wantChild: true},
		{name: "force", left: ChildlessForce, wantRequests: 3, wantChild: true},
		{name: "prefer-vs-never", left: ChildlessPrefer, right: ChildlessNever, wantRequests: 2, wantChild: true},
		{name: "ike-only-vs-never", right: ChildlessNever, ikeOnly: true, wantErr: ErrChildlessUnsupported},
		{name: "force-vs-never", left: ChildlessForce, right: ChildlessNever, wantErr: ErrChildlessUnsupported},
		{name: "child-vs-force", right: ChildlessForce, wantErr: errAuthFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, l, r := newPair(t, pairOpts{})
			l.e.Peers()[0].Childless = tc.left
			r.e.Peers()[0].Childless = tc.right
			var err error
			if tc.ikeOnly {
				err = l.e.InitiateIKE(ctxT(t), "site")
			} else {
				err = l.e.Initiate(ctxT(t), "site", "net")
			}
			switch {
			case tc.wantErr == errAuthFailed:
				var ne *NotifyError
				if !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed {
					t.Fatalf("got %v, want AUTHENTICATION_FAILED", err)
				}
				return
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if got := requestsSent(t, l); got != tc.wantRequests {
				t.Errorf("%d requests, want %d", got, tc.wantRequests)
			}
			if tc.wantChild {
				checkChildPair(t, l, r)
			} else if len(l.inst.all()) != 0 || len(r.inst.all()) != 0 {
				t.Errorf("Child SAs installed on a childless IKE SA")
			}
			if tc.ikeOnly {
				// A Child SA can still follow on the IKE SA.
				if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
					t.Fatal(err)
				}
				checkChildPair(t, l, r)
			}
		})
	}
}

// errAuthFailed marks the cases that end in AUTHENTICATION_FAILED.
var errAuthFailed = errors.New("AUTHENTICATION_FAILED")
