package vici

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestPacketFrameLayout(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Packet
		want []byte
	}{
		{"version request", Packet{Type: PacketCmdRequest, Name: "version"},
			[]byte{0, 0, 0, 9, 0, 7, 'v', 'e', 'r', 's', 'i', 'o', 'n'}},
		{"register", Packet{Type: PacketEventRegister, Name: "list-sa"},
			[]byte{0, 0, 0, 9, 3, 7, 'l', 'i', 's', 't', '-', 's', 'a'}},
		{"confirm", Packet{Type: PacketEventConfirm}, []byte{0, 0, 0, 1, 5}},
		{"unknown command", Packet{Type: PacketCmdUnknown, Name: "ignored", Message: readmeMessage(t)}, []byte{0, 0, 0, 1, 2}},
		{"response", Packet{Type: PacketCmdResponse, Message: readmeMessage(t)},
			append([]byte{0, 0, 0, byte(1 + len(readmeExample)), 1}, readmeExample...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.p.AppendFrame(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("frame\n got %v\nwant %v", got, tc.want)
			}
			p, err := ReadPacket(bytes.NewReader(got))
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != tc.p.Type || (p.Type.Named() && p.Name != tc.p.Name) {
				t.Fatalf("read back %v %q", p.Type, p.Name)
			}
			if tc.p.Type.HasMessage() && !equalMessages(p.Message, tc.p.Message) {
				t.Fatalf("message read back as %s", p.Message)
			}
		})
	}
}

func TestReadPacketSequenceAndOneByteReads(t *testing.T) {
	var stream []byte
	for _, p := range []Packet{
		{Type: PacketEventRegister, Name: "list-sa"},
		{Type: PacketCmdRequest, Name: "list-sas", Message: readmeMessage(t)},
		{Type: PacketEvent, Name: "list-sa", Message: readmeMessage(t)},
	} {
		var err error
		if stream, err = p.AppendFrame(stream); err != nil {
			t.Fatal(err)
		}
	}
	r := iotest.OneByteReader(bytes.NewReader(stream))
	for i, want := range []PacketType{PacketEventRegister, PacketCmdRequest, PacketEvent} {
		p, err := ReadPacket(r)
		if err != nil || p.Type != want {
			t.Fatalf("packet %d: %v, %v", i, p, err)
		}
	}
	if _, err := ReadPacket(r); err != io.EOF {
		t.Fatalf("after the last packet: %v, want io.EOF", err)
	}
}

func TestReadPacketRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		b       []byte
		wantErr error
	}{
		{"zero length", []byte{0, 0, 0, 0}, ErrMalformed},
		{"over 512 KiB", []byte{0, 8, 0, 1, 0}, ErrMalformed},
		{"length 0xffffffff", []byte{0xff, 0xff, 0xff, 0xff}, ErrMalformed},
		{"truncated header", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"truncated body", []byte{0, 0, 0, 5, 0, 3}, io.ErrUnexpectedEOF},
		{"unknown packet type", []byte{0, 0, 0, 1, 8}, ErrMalformed},
		{"name beyond packet", []byte{0, 0, 0, 3, 0, 5, 'x'}, ErrMalformed},
		{"missing name length", []byte{0, 0, 0, 1, 3}, ErrMalformed},
		{"register with trailing bytes", []byte{0, 0, 0, 4, 3, 1, 'x', 2}, ErrMalformed},
		{"confirm with a message", []byte{0, 0, 0, 2, 5, 2}, ErrMalformed},
		{"bad message", []byte{0, 0, 0, 4, 0, 1, 'x', 9}, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadPacket(bytes.NewReader(tc.b))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// A length just under the limit must not make ReadPacket allocate it all
// before the data arrives: memory follows the bytes actually received.
func TestReadPacketAnnouncedLengthIsNotPreallocated(t *testing.T) {
	hdr := []byte{0, 7, 0xff, 0xff, 0} // announces 458751 bytes, sends 1
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 10; i++ {
		if _, err := ReadPacket(bytes.NewReader(hdr)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if perRead := (after.TotalAlloc - before.TotalAlloc) / 10; perRead > 64<<10 {
		t.Fatalf("ReadPacket allocated %d bytes for a 1-byte body", perRead)
	}
}

func TestAppendFrameRejects(t *testing.T) {
	big := NewMessage()
	for i := 0; i < 9; i++ {
		mustSet(t, big, string(rune('a'+i)), strings.Repeat("x", MaxValueLen))
	}
	for name, p := range map[string]Packet{
		"long name":    {Type: PacketCmdRequest, Name: strings.Repeat("n", 256)},
		"invalid type": {Type: 8},
		"over 512 KiB": {Type: PacketCmdResponse, Message: big},
	} {
		if _, err := p.AppendFrame(nil); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

func TestPacketTypeString(t *testing.T) {
	if PacketEventUnknown.String() != "EVENT_UNKNOWN" || PacketType(9).String() != "PACKET_TYPE_9" {
		t.Fatal(PacketEventUnknown.String(), PacketType(9).String())
	}
}
