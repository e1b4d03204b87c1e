package vici

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Per-client goroutines and queues:
//
//	conn -> reader (ReadPacket; malformed: close) -> in (bounded)
//	     -> processor (commands, (un)registrations, in arrival order)
//	     -> sendQueue <- Broadcast (any goroutine)
//	     -> writer -> conn
//
// The processor waits when the send queue holds more than sendSoftLimit
// bytes (back-pressure for long streams such as list-sas); Broadcast never
// waits, and a client whose queue would exceed sendHardLimit is too slow
// and is disconnected, so a stuck monitor cannot stall the daemon or grow
// memory without bound.
const (
	inQueueLen    = 4
	sendSoftLimit = 256 << 10
	sendHardLimit = 4 << 20
)

// A streaming command's response waits until its events are delivered.
// govici (v0.8.0, the client of the goipsec CLI and of Prometheus
// exporters) reads events and responses into two channels and picks
// between them with a select, so a response that arrives while streamed
// events are still buffered may be taken first: the stream loses its tail
// and the leftover events break the session's next request. charon is slow
// enough between its last event and its response that this rarely shows;
// a Go server is not. So the response waits until the events left our
// queue, until the client has read them from the socket (SIOCOUTQ on
// Linux, at most streamDeliverMax), and then streamSettle more for the
// client to hand the last one over. Only streaming commands pay this.
const (
	streamSettle     = 5 * time.Millisecond
	streamDeliverMax = 2 * time.Second
	streamPoll       = 100 * time.Microsecond
)

// Handler serves one command. emit streams an event (e.g. "list-sa") to the
// calling client if it registered for it; events are sent in emit order,
// before the command's response. emit may be called from any goroutine,
// but only until the handler returns. ctx is cancelled when the client
// disconnects or the server closes.
//
// A non-nil error becomes the strongSwan-style failure response: resp (or
// an empty message) with success=no and errmsg=err.Error().
type Handler func(ctx context.Context, req *Message, emit func(event string, msg *Message)) (*Message, error)

// streamEvents are the events strongSwan streams during its own commands
// (README "Client-initiated commands"); Handle makes them known so a client
// can register for them before issuing the command, as swanctl does.
var streamEvents = map[string]string{
	"list-sas":         "list-sa",
	"list-policies":    "list-policy",
	"list-conns":       "list-conn",
	"list-certs":       "list-cert",
	"list-authorities": "list-authority",
	"initiate":         "control-log",
	"terminate":        "control-log",
}

// Counters are the server's lifetime counters.
type Counters struct {
	Accepted  uint64 // client connections accepted
	Clients   uint64 // clients connected now
	Malformed uint64 // connections closed for malformed input
	Overflow  uint64 // connections closed because they did not read their events
	Unknown   uint64 // CMD_UNKNOWN and EVENT_UNKNOWN replies sent
}

// Server is a VICI server (the vici plugin's role in charon). Register
// commands with Handle and event names with RegisterEvent, then Serve.
type Server struct {
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	handlers  map[string]Handler
	events    map[string]bool // known event names
	clients   map[*client]struct{}
	listeners map[net.Listener]struct{}
	closed    bool
	nextID    uint64

	accepted, malformed, overflow, unknown atomic.Uint64
}

// NewServer returns a server that logs to logger (nil: discard).
func NewServer(logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		log:       logger,
		ctx:       ctx,
		cancel:    cancel,
		handlers:  make(map[string]Handler),
		events:    make(map[string]bool),
		clients:   make(map[*client]struct{}),
		listeners: make(map[net.Listener]struct{}),
	}
}

// Handle registers h for command, replacing any previous handler. For
// strongSwan's streaming commands (list-sas, list-conns, initiate, ...) the
// event they stream becomes known too. It panics if h is nil.
func (s *Server) Handle(command string, h Handler) {
	if h == nil {
		panic("vici: nil handler for " + command)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[command] = h
	if ev, ok := streamEvents[command]; ok {
		s.events[ev] = true
	}
}

// Handler returns the handler registered for command, or nil.
func (s *Server) Handler(command string) Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handlers[command]
}

// RegisterEvent makes event names known: clients may register for them
// (EVENT_CONFIRM) and receive them from Broadcast or a Handler's emit.
// Registration for any other name is answered with EVENT_UNKNOWN.
func (s *Server) RegisterEvent(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.events[n] = true
	}
}

// Counters returns a snapshot of the server's counters.
func (s *Server) Counters() Counters {
	s.mu.Lock()
	n := len(s.clients)
	s.mu.Unlock()
	return Counters{
		Accepted:  s.accepted.Load(),
		Clients:   uint64(n),
		Malformed: s.malformed.Load(),
		Overflow:  s.overflow.Load(),
		Unknown:   s.unknown.Load(),
	}
}

// Serve accepts clients on l, one set of goroutines per client, until l
// fails or Close is called; it returns nil after Close. Transient accept
// errors (such as too many open files) are logged and retried with backoff.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("vici: accept failed, retrying", "err", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		if !s.startClient(conn) {
			conn.Close()
			return nil
		}
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops accepting, disconnects every client, and waits for their
// goroutines (and so for running handlers, which see ctx cancelled).
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ls := slices.Collect(maps.Keys(s.listeners))
	cs := slices.Collect(maps.Keys(s.clients))
	s.mu.Unlock()

	s.cancel()
	var err error
	for _, l := range ls {
		if e := l.Close(); e != nil && !errors.Is(e, net.ErrClosed) && err == nil {
			err = e
		}
	}
	for _, c := range cs {
		c.close()
	}
	s.wg.Wait()
	return err
}

// Broadcast sends event to every client registered for it (ike-updown,
// child-updown, log, ...). It never blocks: a client whose send queue is
// full is disconnected.
func (s *Server) Broadcast(event string, msg *Message) {
	frame, err := (&Packet{Type: PacketEvent, Name: event, Message: msg}).AppendFrame(nil)
	if err != nil {
		s.log.Error("vici: cannot encode event", "event", event, "err", err)
		return
	}
	s.mu.Lock()
	cs := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		if c.registered(event) && !c.q.push(frame, false) {
			c.overflowed(event)
		}
	}
}

// HasListeners reports whether any client is registered for event, so a
// producer can skip building messages nobody reads (such as "log").
func (s *Server) HasListeners(event string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.clients {
		if c.registered(event) {
			return true
		}
	}
	return false
}

func (s *Server) startClient(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.nextID++
	c := &client{
		s:      s,
		id:     s.nextID,
		conn:   conn,
		in:     make(chan *Packet, inQueueLen),
		events: make(map[string]bool),
	}
	c.q.cond.L = &c.q.mu
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.log = s.log.With("vici_client", c.id)
	s.clients[c] = struct{}{}
	s.accepted.Add(1)
	s.wg.Add(3)
	go c.readLoop()
	go c.processLoop()
	go c.writeLoop()
	c.log.Debug("vici: client connected")
	return true
}

type client struct {
	s      *Server
	id     uint64
	conn   net.Conn
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	in     chan *Packet
	q      sendQueue
	once   sync.Once

	mu     sync.Mutex
	events map[string]bool // events this client registered for
}

func (c *client) close() {
	c.once.Do(func() {
		c.cancel()
		c.q.close()
		c.conn.Close()
		c.s.mu.Lock()
		delete(c.s.clients, c)
		c.s.mu.Unlock()
	})
}

func (c *client) registered(event string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events[event]
}

func (c *client) overflowed(event string) {
	c.s.overflow.Add(1)
	c.log.Warn("vici: client does not read its events, disconnecting", "event", event)
	c.close()
}

// readLoop reads packets and hands them to the processor in order. A
// malformed packet closes this client only.
func (c *client) readLoop() {
	defer c.s.wg.Done()
	defer c.close()
	for {
		p, err := ReadPacket(c.conn)
		if err == nil {
			switch p.Type {
			case PacketCmdRequest, PacketEventRegister, PacketEventUnregister:
			default:
				err = malformed("client sent a %v packet", p.Type)
			}
		}
		if err != nil {
			switch {
			case errors.Is(err, ErrMalformed):
				c.s.malformed.Add(1)
				c.log.Warn("vici: malformed packet, closing connection", "err", err)
			case errors.Is(err, io.EOF), c.ctx.Err() != nil:
				c.log.Debug("vici: client disconnected")
			default:
				c.log.Debug("vici: client read failed", "err", err)
			}
			return
		}
		select {
		case c.in <- p:
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *client) processLoop() {
	defer c.s.wg.Done()
	for {
		select {
		case p := <-c.in:
			if c.ctx.Err() != nil {
				return
			}
			c.process(p)
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *client) writeLoop() {
	defer c.s.wg.Done()
	defer c.close()
	for {
		frame := c.q.pop()
		if frame == nil {
			return
		}
		if _, err := c.conn.Write(frame); err != nil {
			if c.ctx.Err() == nil {
				c.log.Debug("vici: client write failed", "err", err)
			}
			return
		}
	}
}

// send queues a reply or streamed event, waiting while the queue is over
// its soft limit.
func (c *client) send(p *Packet) {
	frame, err := p.AppendFrame(nil)
	if err != nil {
		c.log.Error("vici: cannot encode packet", "type", p.Type, "name", p.Name, "err", err)
		if p.Type != PacketCmdResponse {
			return
		}
		resp := NewMessage()
		resp.Set("success", "no")
		resp.Set("errmsg", "internal error: response too large to encode")
		if frame, err = (&Packet{Type: PacketCmdResponse, Message: resp}).AppendFrame(nil); err != nil {
			return
		}
	}
	c.q.push(frame, true)
}

func (c *client) process(p *Packet) {
	switch p.Type {
	case PacketEventRegister, PacketEventUnregister:
		c.s.mu.Lock()
		known := c.s.events[p.Name]
		c.s.mu.Unlock()
		reply := PacketEventConfirm
		c.mu.Lock()
		switch {
		case !known:
			reply = PacketEventUnknown
		case p.Type == PacketEventRegister:
			c.events[p.Name] = true
		case c.events[p.Name]:
			delete(c.events, p.Name)
		default:
			// Like charon: unregistering what was not registered fails.
			reply = PacketEventUnknown
		}
		c.mu.Unlock()
		if reply == PacketEventUnknown {
			c.s.unknown.Add(1)
		}
		c.log.Debug("vici: event "+p.Type.String(), "event", p.Name, "reply", reply)
		c.send(&Packet{Type: reply})
	case PacketCmdRequest:
		c.s.mu.Lock()
		h := c.s.handlers[p.Name]
		c.s.mu.Unlock()
		if h == nil {
			c.s.unknown.Add(1)
			c.log.Debug("vici: unknown command", "command", p.Name)
			c.send(&Packet{Type: PacketCmdUnknown})
			return
		}
		c.log.Debug("vici: command", "command", p.Name)
		resp, streamed := c.run(p.Name, h, p.Message)
		if streamed {
			c.awaitDelivery()
		}
		c.send(&Packet{Type: PacketCmdResponse, Message: resp})
	}
}

// awaitDelivery waits until streamed events were read by the client (see
// streamSettle).
func (c *client) awaitDelivery() {
	c.q.waitDrained()
	deadline := time.Now().Add(streamDeliverMax)
	for {
		n, ok := unreadBytes(c.conn)
		if !ok || n == 0 || time.Now().After(deadline) {
			break
		}
		if !c.sleep(streamPoll) {
			return
		}
	}
	c.sleep(streamSettle)
}

// sleep waits d; false if the client closed meanwhile.
func (c *client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// run calls h, turning an error or a panic into a failure response. It
// reports whether h streamed any event to the client.
func (c *client) run(command string, h Handler, req *Message) (resp *Message, streamed bool) {
	var done, sent atomic.Bool
	emit := func(event string, msg *Message) {
		if done.Load() || !c.registered(event) {
			return
		}
		sent.Store(true)
		c.send(&Packet{Type: PacketEvent, Name: event, Message: msg})
	}
	defer func() { streamed = sent.Load() }()
	defer done.Store(true)
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("vici: command handler panicked", "command", command, "panic", r, "stack", string(debug.Stack()))
			resp = failure(nil, fmt.Errorf("internal error in %s", command))
		}
	}()
	resp, err := h(c.ctx, req, emit)
	if err != nil {
		return failure(resp, err), false
	}
	if resp == nil {
		resp = NewMessage()
	}
	return resp, false
}

func failure(resp *Message, err error) *Message {
	if resp == nil {
		resp = NewMessage()
	}
	resp.Set("success", "no")
	msg := err.Error()
	if len(msg) > MaxValueLen {
		msg = msg[:MaxValueLen]
	}
	resp.Set("errmsg", msg)
	return resp
}

// sendQueue is a client's outgoing frames, bounded in bytes.
type sendQueue struct {
	mu      sync.Mutex
	cond    sync.Cond // L = &mu; signalled on every change
	frames  [][]byte
	size    int
	writing bool // the writer holds a popped frame it has not finished writing
	closed  bool
}

// push queues frame. With wait it waits while the queue is over the soft
// limit; without, it fails if the queue would exceed the hard limit. It
// returns false if the frame was not queued.
func (q *sendQueue) push(frame []byte, wait bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if wait {
		for !q.closed && q.size > sendSoftLimit {
			q.cond.Wait()
		}
	} else if q.size+len(frame) > sendHardLimit {
		return false
	}
	if q.closed {
		return false
	}
	q.frames = append(q.frames, frame)
	q.size += len(frame)
	q.cond.Broadcast()
	return true
}

// pop waits for the next frame; nil once the queue is closed. It also
// marks the previous frame as written.
func (q *sendQueue) pop() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.writing = false
	q.cond.Broadcast()
	for len(q.frames) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil
	}
	f := q.frames[0]
	q.frames[0] = nil
	q.frames = q.frames[1:]
	q.size -= len(f)
	q.writing = true
	q.cond.Broadcast()
	return f
}

// waitDrained waits until every queued frame was written (or the queue
// closed).
func (q *sendQueue) waitDrained() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.closed && (len(q.frames) > 0 || q.writing) {
		q.cond.Wait()
	}
}

func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.frames = nil
	q.size = 0
	q.cond.Broadcast()
	q.mu.Unlock()
}
