package packet

import (
	"encoding/binary"
	"fmt"
)

// ESP header (RFC 4303 section 2): the cleartext part before the payload.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|               Security Parameters Index (SPI)                 |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                      Sequence Number                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Payload Data* (variable)                   |
const (
	espSPI = 0
	espSeq = 4
)

// ESP is a view of an ESP packet, starting at the SPI. Obtain one with
// ParseESP.
type ESP []byte

// ParseESP checks that b holds at least the 8-byte ESP header. Whether the
// rest is long enough for the SA's IV, trailer and ICV is the SA's business.
func ParseESP(b []byte) (ESP, error) {
	if len(b) < ESPHeaderLen {
		return nil, fmt.Errorf("%w: ESP: %d bytes, need %d", ErrMalformed, len(b), ESPHeaderLen)
	}
	return ESP(b), nil
}

// SPI returns the Security Parameters Index.
func (e ESP) SPI() uint32 { return binary.BigEndian.Uint32(e[espSPI:]) }

// Seq returns the (low 32 bits of the) sequence number.
func (e ESP) Seq() uint32 { return binary.BigEndian.Uint32(e[espSeq:]) }

// Payload returns everything after the header: IV, ciphertext and ICV.
func (e ESP) Payload() []byte { return e[ESPHeaderLen:] }
