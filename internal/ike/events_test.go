package ike

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// eventLog records Config.Events calls as "ike up site", "child down net".
type eventLog struct {
	mu     sync.Mutex
	events []string
	last   SAInfo
}

func (l *eventLog) IKEUpDown(sa SAInfo, up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf("ike %s %s", upDown(up), sa.Name))
	l.last = sa
}

func (l *eventLog) ChildUpDown(sa SAInfo, c ChildInfo, up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf("child %s %s/%s", upDown(up), sa.Name, c.Name))
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, ", ")
}

// TestEvents: both sides report the IKE SA and the Child SA coming up and
// going down, in order, and the handshake time of the established SA.
func TestEvents(t *testing.T) {
	_, l, r := newPair(t, pairOpts{})
	le, re := &eventLog{}, &eventLog{}
	l.e.cfg.Events, r.e.cfg.Events = le, re
	if err := l.e.Initiate(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both sides up", func() bool {
		return le.String() == "ike up site, child up site/net" && re.String() == "ike up site, child up site/net"
	})
	le.mu.Lock()
	if le.last.HandshakeTime <= 0 || le.last.State != StateEstablished || len(le.last.Children) != 0 {
		t.Errorf("IKE up event: %+v", le.last)
	}
	le.mu.Unlock()
	if _, err := l.e.TerminateChild(ctxT(t), "site", "net"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.e.Terminate(ctxT(t), "site"); err != nil {
		t.Fatal(err)
	}
	want := "ike up site, child up site/net, child down site/net, ike down site"
	waitFor(t, "both sides down", func() bool { return le.String() == want && re.String() == want })
}
