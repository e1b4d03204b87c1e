package vici

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzMessageDecode: decoding never panics, and whatever decodes re-encodes
// to exactly the input (the encoding is canonical: one element per key,
// order kept), which also checks that the encoder and decoder agree on
// every limit.
func FuzzMessageDecode(f *testing.F) {
	f.Add(readmeExample)
	f.Add([]byte{})
	f.Add(nestedBytes(MaxDepth))
	f.Add(nestedBytes(MaxDepth + 1))
	f.Add([]byte{elemListStart, 1, 'l', elemListItem, 0, 1, 'x', elemListEnd})
	f.Add([]byte{elemKeyValue, 1, 'k', 0xff, 0xff})
	f.Add([]byte{elemSectionStart, 1, 's', elemListStart, 1, 'a', elemSectionEnd})
	f.Add([]byte{elemKeyValue, 1, 'k', 0, 0, elemKeyValue, 1, 'k', 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := m.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs\n in %v\nout %v", b, out)
		}
		_ = m.String()
	})
}

// FuzzReadPacket: the packet reader never panics; a packet it accepts
// re-frames to exactly the bytes it consumed.
func FuzzReadPacket(f *testing.F) {
	for _, p := range []Packet{
		{Type: PacketCmdRequest, Name: "list-sas", Message: readmeMessage(f)},
		{Type: PacketCmdResponse, Message: readmeMessage(f)},
		{Type: PacketEventRegister, Name: "list-sa"},
		{Type: PacketEventConfirm},
		{Type: PacketEvent, Name: "ike-updown", Message: readmeMessage(f)},
	} {
		b, err := p.AppendFrame(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0})
	f.Add([]byte{0, 0, 0, 3, 0, 5, 'x'})
	f.Add([]byte{0, 0, 0, 1, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		p, err := ReadPacket(r)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		consumed := len(b) - r.Len()
		out, err := p.AppendFrame(nil)
		if err != nil {
			t.Fatalf("accepted packet does not encode: %v", err)
		}
		if !bytes.Equal(out, b[:consumed]) {
			t.Fatalf("re-framing differs\n in %v\nout %v", b[:consumed], out)
		}
	})
}
