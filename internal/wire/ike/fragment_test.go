package ike

import (
	"bytes"
	"testing"
)

// fragmentMessage builds a message whose only payload is SKF.
func fragmentMessage(h Header, first PayloadType, num, total uint16, body []byte) []byte {
	return append(SKFPrefix(h, first, num, total, len(body)), body...)
}

// checkFragmentRebuild asserts that a parsed SKF message is rebuilt byte
// for byte by SKFPrefix (used by FuzzParse).
func checkFragmentRebuild(t *testing.T, m *Message) {
	t.Helper()
	f := m.Fragment
	if f.FragmentNumber == 0 || f.FragmentNumber > f.TotalFragments {
		t.Fatalf("accepted fragment %d of %d", f.FragmentNumber, f.TotalFragments)
	}
	if len(m.Payloads) > 0 {
		return // cleartext payloads before SKF: the engine refuses those
	}
	next := f.NextPayload
	if f.FragmentNumber != 1 {
		next = PayloadNone
	}
	h := m.Header
	b := fragmentMessage(h, next, f.FragmentNumber, f.TotalFragments, f.Body)
	m2, err := Parse(b)
	if err != nil {
		t.Fatalf("rebuilt fragment does not parse: %v", err)
	}
	if !bytes.Equal(m2.Fragment.AAD, b[:SKFOverhead]) || !bytes.Equal(m2.Fragment.Body, f.Body) ||
		m2.Fragment.FragmentNumber != f.FragmentNumber || m2.Fragment.TotalFragments != f.TotalFragments {
		t.Fatalf("rebuilt fragment differs: %+v vs %+v", m2.Fragment, f)
	}
	if f.FragmentNumber == 1 && m2.Fragment.NextPayload != f.NextPayload {
		t.Fatalf("next payload %v, want %v", m2.Fragment.NextPayload, f.NextPayload)
	}
}

// TestFragmentRoundTrip: SKFPrefix and Parse agree on every field, and the
// AAD is the IKE header through Total Fragments (RFC 7383 2.5).
func TestFragmentRoundTrip(t *testing.T) {
	h := Header{SPIi: 0x1122334455667788, SPIr: 0x99aabbccddeeff00, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1}
	body := seq(60, 7)
	for _, tc := range []struct {
		num, total uint16
		first      PayloadType
		wantNext   PayloadType
	}{
		{1, 1, PayloadIDi, PayloadIDi},
		{1, 5, PayloadIDi, PayloadIDi},
		{2, 5, PayloadIDi, PayloadNone}, // only fragment 1 names the first inner payload
		{5, 5, PayloadNone, PayloadNone},
		{65535, 65535, PayloadNone, PayloadNone},
	} {
		b := fragmentMessage(h, tc.first, tc.num, tc.total, body)
		if len(b) != SKFOverhead+len(body) {
			t.Fatalf("length %d", len(b))
		}
		m, err := Parse(b)
		if err != nil {
			t.Fatalf("%d/%d: %v", tc.num, tc.total, err)
		}
		f := m.Fragment
		if f == nil || m.Encrypted != nil || len(m.Payloads) != 0 {
			t.Fatalf("message %+v", m)
		}
		if f.FragmentNumber != tc.num || f.TotalFragments != tc.total || f.NextPayload != tc.wantNext {
			t.Errorf("fragment %+v, want %d/%d next %v", f, tc.num, tc.total, tc.wantNext)
		}
		if !bytes.Equal(f.Body, body) || !bytes.Equal(f.AAD, b[:36]) {
			t.Errorf("body or AAD wrong")
		}
		if m.NextPayload != PayloadSKF || m.Length != uint32(len(b)) {
			t.Errorf("header %+v", m.Header)
		}
		checkFragmentRebuild(t, m)
	}
}

// TestRejectBadFragmentNumbers: Fragment Number and Total Fragments must be
// non-zero and Number <= Total (RFC 7383 2.5).
func TestRejectBadFragmentNumbers(t *testing.T) {
	h := Header{Exchange: IKEAuth, NextPayload: PayloadSKF}
	for _, f := range [][]byte{
		{0, 0, 0, 1}, {0, 1, 0, 0}, {0, 3, 0, 2}, {0, 0, 0, 0},
		{0, 1, 0}, {}, // shorter than the fragment fields
	} {
		_, err := Parse(rawMessage(h, raw(PayloadIDi, false, f)))
		wantMalformed(t, err)
	}
}

// TestRejectSKFNotLast: SKF must be the last payload (RFC 7383 2.5).
func TestRejectSKFNotLast(t *testing.T) {
	h := Header{Exchange: IKEAuth, NextPayload: PayloadSKF}
	body := append([]byte{0, 1, 0, 2}, seq(40, 0)...)
	chain := append(raw(PayloadVendorID, false, body), raw(PayloadNone, false, nil)...)
	_, err := Parse(rawMessage(h, chain))
	wantMalformed(t, err)
}

// TestFragmentNoStrictPrefixParses: no strict prefix of a fragment message
// parses (the header Length must match).
func TestFragmentNoStrictPrefixParses(t *testing.T) {
	b := fragmentMessage(Header{Exchange: IKEAuth}, PayloadIDi, 1, 2, seq(30, 0))
	for i := range b {
		if _, err := Parse(b[:i]); err == nil {
			t.Fatalf("prefix of %d octets parsed", i)
		}
	}
}

func TestSKFPrefixPanics(t *testing.T) {
	for _, tc := range []struct {
		num, total uint16
		n          int
	}{{0, 1, 10}, {2, 1, 10}, {1, 1, -1}, {1, 1, 65528}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SKFPrefix(%d, %d, %d) did not panic", tc.num, tc.total, tc.n)
				}
			}()
			SKFPrefix(Header{}, PayloadNone, tc.num, tc.total, tc.n)
		}()
	}
}
