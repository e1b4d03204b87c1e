package suite

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"testing"
	"unsafe"

	"github.com/goipsec/goipsec/internal/wire/ike"
)

// naivePlus is prf+ written straight from RFC 7296 2.13, independent of
// PRF.Plus: T1 = prf(K, S | 0x01), Tn = prf(K, T(n-1) | S | n).
func naivePlus(h func() hash.Hash, key, seed []byte, n int) []byte {
	var out, t []byte
	for i := byte(1); len(out) < n; i++ {
		in := append(append(append([]byte{}, t...), seed...), i)
		m := hmac.New(h, key)
		m.Write(in)
		t = m.Sum(nil)
		out = append(out, t...)
	}
	return out[:n]
}

func TestPlusMatchesRFC7296Construction(t *testing.T) {
	key := []byte("SKEYSEED-ish key of arbitrary length")
	seed := bytes.Repeat([]byte{0x5a, 0xa5, 0x01}, 37)
	for _, c := range []struct {
		id uint16
		h  func() hash.Hash
	}{{ike.PRFHMACSHA1, sha1.New}, {ike.PRFHMACSHA256, sha256.New}, {ike.PRFHMACSHA384, sha512.New384}, {ike.PRFHMACSHA512, sha512.New}} {
		prf, err := NewPRF(c.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, prf.Size() - 1, prf.Size(), prf.Size() + 1, 3*prf.Size() + 2*36, 1000, MaxPlus * prf.Size()} {
			got, err := prf.Plus(key, seed, n)
			if err != nil {
				t.Fatalf("%v: Plus(%d): %v", prf, n, err)
			}
			if want := naivePlus(c.h, key, seed, n); !bytes.Equal(got, want) {
				t.Errorf("%v: Plus(%d) differs from the RFC 7296 construction", prf, n)
			}
			if len(got) != n || cap(got) != n {
				t.Errorf("%v: Plus(%d): len %d cap %d", prf, n, len(got), cap(got))
			}
		}
	}
}

func TestPlusLimits(t *testing.T) {
	prf, _ := NewPRF(ike.PRFHMACSHA256)
	if _, err := prf.Plus(nil, nil, 255*32); err != nil {
		t.Errorf("255 blocks must be allowed: %v", err)
	}
	for _, n := range []int{255*32 + 1, -1, 1 << 30} {
		if _, err := prf.Plus(nil, nil, n); err == nil {
			t.Errorf("Plus(%d) succeeded; the counter octet would wrap (RFC 7296 2.13)", n)
		}
	}
}

// The bytes prf+ computed past n are key material: they must not survive in
// the array behind the returned slice (Plus rounds its buffer up to whole
// PRF blocks; unsafe looks past the capacity limit Plus sets).
func TestPlusClearsTail(t *testing.T) {
	prf, _ := NewPRF(ike.PRFHMACSHA256)
	out, err := prf.Plus([]byte("k"), []byte("s"), 33)
	if err != nil {
		t.Fatal(err)
	}
	if want := naivePlus(sha256.New, []byte("k"), []byte("s"), 33); !bytes.Equal(out, want) {
		t.Fatal("wrong output")
	}
	whole := unsafe.Slice(unsafe.SliceData(out), 64)
	if tail := whole[33:]; !bytes.Equal(tail, make([]byte, len(tail))) {
		t.Errorf("prf+ left %x behind the returned slice", tail)
	}
}

func TestNewPRFUnsupported(t *testing.T) {
	for _, id := range []uint16{0, 1, 3, 9, 0xffff} {
		if _, err := NewPRF(id); !errors.Is(err, ErrUnsupported) {
			t.Errorf("NewPRF(%d): err %v, want ErrUnsupported", id, err)
		}
	}
	for id, size := range map[uint16]int{ike.PRFHMACSHA1: 20, ike.PRFHMACSHA256: 32, ike.PRFHMACSHA384: 48, ike.PRFHMACSHA512: 64, ike.PRFAES128XCBC: 16, ike.PRFAES128CMAC: 16} {
		p, err := NewPRF(id)
		if err != nil || p.ID() != id || p.Size() != size {
			t.Errorf("NewPRF(%d) = %v, %v; want size %d", id, p, err, size)
		}
	}
}
