package vici

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxPacketSize is the largest transport byte sequence (packet type, name
// and message, without the 4-byte length) accepted or sent (README
// "Transport protocol": "currently limited to 512KB").
const MaxPacketSize = 512 * 1024

// PacketType is the first byte of every packet (README "Packet layer").
type PacketType uint8

// Packet types (README "Packet layer").
const (
	PacketCmdRequest      PacketType = 0 // named request message
	PacketCmdResponse     PacketType = 1 // unnamed response message
	PacketCmdUnknown      PacketType = 2 // unnamed, no message: the command is unknown
	PacketEventRegister   PacketType = 3 // named, no message
	PacketEventUnregister PacketType = 4 // named, no message
	PacketEventConfirm    PacketType = 5 // unnamed, no message: (un)registration done
	PacketEventUnknown    PacketType = 6 // unnamed, no message: (un)registration failed
	PacketEvent           PacketType = 7 // named event message
)

var packetTypeNames = [...]string{
	"CMD_REQUEST", "CMD_RESPONSE", "CMD_UNKNOWN", "EVENT_REGISTER",
	"EVENT_UNREGISTER", "EVENT_CONFIRM", "EVENT_UNKNOWN", "EVENT",
}

func (t PacketType) String() string {
	if int(t) < len(packetTypeNames) {
		return packetTypeNames[t]
	}
	return "PACKET_TYPE_" + strconv.Itoa(int(t))
}

// Valid reports whether t is one of the eight defined packet types.
func (t PacketType) Valid() bool { return t <= PacketEvent }

// Named reports whether packets of type t carry a name after the type.
func (t PacketType) Named() bool {
	switch t {
	case PacketCmdRequest, PacketEventRegister, PacketEventUnregister, PacketEvent:
		return true
	}
	return false
}

// HasMessage reports whether packets of type t carry a message.
func (t PacketType) HasMessage() bool {
	switch t {
	case PacketCmdRequest, PacketCmdResponse, PacketEvent:
		return true
	}
	return false
}

// Packet is one VICI packet (README "Packet layer").
type Packet struct {
	Type PacketType
	// Name is the command or event name of named types; ignored otherwise.
	Name string
	// Message is the payload of CMD_REQUEST, CMD_RESPONSE and EVENT; nil
	// encodes as an empty message. Ignored for the other types.
	Message *Message
}

// AppendFrame appends p with its 4-byte transport length header to b.
// It fails if the name is longer than 255 bytes or the packet exceeds
// MaxPacketSize.
func (p *Packet) AppendFrame(b []byte) ([]byte, error) {
	if !p.Type.Valid() {
		return nil, fmt.Errorf("vici: invalid packet type %d", p.Type)
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0, byte(p.Type))
	if p.Type.Named() {
		if len(p.Name) > MaxNameLen {
			return nil, fmt.Errorf("vici: %v name of %d bytes exceeds %d", p.Type, len(p.Name), MaxNameLen)
		}
		b = appendName(b, p.Name)
	}
	if p.Type.HasMessage() && p.Message != nil {
		var err error
		if b, err = p.Message.AppendBinary(b); err != nil {
			return nil, err
		}
	}
	n := len(b) - start - 4
	if n > MaxPacketSize {
		return nil, fmt.Errorf("vici: %v %q of %d bytes exceeds the %d byte limit", p.Type, p.Name, n, MaxPacketSize)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

// WritePacket writes p, framed, to w in a single Write.
func WritePacket(w io.Writer, p *Packet) error {
	b, err := p.AppendFrame(nil)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// ReadPacket reads one framed packet from r. It returns io.EOF if r ends
// before the first byte, io.ErrUnexpectedEOF if it ends inside a packet,
// and an error wrapping ErrMalformed for a length of 0 or above
// MaxPacketSize or an undecodable packet. Memory grows with the bytes
// actually received, not with the announced length.
func ReadPacket(r io.Reader) (*Packet, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, malformed("empty packet")
	}
	if n > MaxPacketSize {
		return nil, malformed("packet length %d exceeds the %d byte limit", n, MaxPacketSize)
	}
	var buf bytes.Buffer
	buf.Grow(min(int(n), 4096))
	if _, err := io.CopyN(&buf, r, int64(n)); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return ParsePacket(buf.Bytes())
}

// ParsePacket decodes one packet from b, the transport data without its
// length header. Types without a message must not carry trailing bytes.
func ParsePacket(b []byte) (*Packet, error) {
	if len(b) == 0 {
		return nil, malformed("empty packet")
	}
	p := &Packet{Type: PacketType(b[0])}
	if !p.Type.Valid() {
		return nil, malformed("unknown packet type %d", b[0])
	}
	off := 1
	if p.Type.Named() {
		var err error
		if p.Name, off, err = readName(b, off); err != nil {
			return nil, fmt.Errorf("%v name: %w", p.Type, err)
		}
	}
	rest := b[off:]
	if !p.Type.HasMessage() {
		if len(rest) != 0 {
			return nil, malformed("%v with %d unexpected trailing bytes", p.Type, len(rest))
		}
		return p, nil
	}
	m, err := decodeMessage(rest)
	if err != nil {
		return nil, fmt.Errorf("%v %q: %w", p.Type, p.Name, err)
	}
	p.Message = m
	return p, nil
}
