// Package ctl is the client side of goipsec's control socket: the VICI
// commands the CLI, the demo and the tests send, spoken through
// github.com/strongswan/govici (an independent VICI implementation, so
// every use also checks our server against strongSwan's protocol).
package ctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/strongswan/govici/vici"
)

// Client is a connection to a goipsec (or strongSwan) VICI socket.
type Client struct {
	s *vici.Session
}

// Dial connects to the control socket at path.
func Dial(path string) (*Client, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("control socket %s does not exist (is the goipsec daemon running?)", path)
		}
		return nil, fmt.Errorf("control socket: %w", err)
	}
	s, err := vici.NewSession(vici.WithSocketPath(path))
	if err != nil {
		return nil, fmt.Errorf("connect to control socket %s: %w", path, err)
	}
	return &Client{s: s}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.s.Close() }

// Initiate brings up a connection with the named child, or with its
// first child when child is empty (a connection without children gets
// its IKE SA alone), and waits for the result: the error carries the
// daemon's reason, such as AUTHENTICATION_FAILED.
func (c *Client) Initiate(ctx context.Context, conn, child string, timeout time.Duration) error {
	if child == "" && conn != "" {
		// VICI initiate with only "ike" means the IKE SA alone (as in
		// charon), so name the first child, as configured.
		first, err := c.firstChild(ctx, conn)
		if err != nil {
			return err
		}
		child = first
	}
	return c.initiate(ctx, conn, child, timeout)
}

// InitiateIKE brings up the connection's IKE SA without any Child SA (a
// childless IKE SA, RFC 6023), like swanctl --initiate --ike.
func (c *Client) InitiateIKE(ctx context.Context, conn string, timeout time.Duration) error {
	return c.initiate(ctx, conn, "", timeout)
}

// firstChild returns the name of conn's first child from list-conns, ""
// if it has none.
func (c *Client) firstChild(ctx context.Context, conn string) (string, error) {
	m := vici.NewMessage()
	_ = m.Set("ike", conn)
	found, first := false, ""
	for ev, err := range c.s.CallStreaming(ctx, "list-conns", "list-conn", m) {
		if err != nil {
			return "", err
		}
		sec, ok := ev.Get(conn).(*vici.Message)
		if !ok {
			continue
		}
		found = true
		if children, ok := sec.Get("children").(*vici.Message); ok && first == "" {
			if keys := children.Keys(); len(keys) > 0 {
				first = keys[0]
			}
		}
	}
	if !found {
		return "", fmt.Errorf("no connection %q", conn)
	}
	return first, nil
}

func (c *Client) initiate(ctx context.Context, conn, child string, timeout time.Duration) error {
	m := vici.NewMessage()
	if conn != "" {
		_ = m.Set("ike", conn)
	}
	if child != "" {
		_ = m.Set("child", child)
	}
	_ = m.Set("timeout", strconv.Itoa(int(timeout.Milliseconds())))
	resp, err := c.s.Call(ctx, "initiate", m)
	if err != nil {
		return commandError(resp, err)
	}
	return nil
}

// Terminate deletes a connection's IKE SAs (child empty) or one child,
// returning how many SAs were deleted.
func (c *Client) Terminate(ctx context.Context, conn, child string, timeout time.Duration) (int, error) {
	m := vici.NewMessage()
	if child != "" {
		_ = m.Set("child", child)
	}
	if conn != "" {
		_ = m.Set("ike", conn)
	}
	_ = m.Set("timeout", strconv.Itoa(int(timeout.Milliseconds())))
	resp, err := c.s.Call(ctx, "terminate", m)
	if err != nil {
		return 0, commandError(resp, err)
	}
	n, _ := strconv.Atoi(str(resp.Get("terminated")))
	if e := str(resp.Get("errmsg")); e != "" {
		return n, fmt.Errorf("deleted locally, but: %s", e)
	}
	return n, nil
}

func commandError(resp *vici.Message, err error) error {
	if resp != nil {
		if e := str(resp.Get("errmsg")); e != "" {
			return errors.New(e)
		}
	}
	return err
}

// Version returns the daemon's name and version.
func (c *Client) Version(ctx context.Context) (string, error) {
	resp, err := c.s.Call(ctx, "version", nil)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(str(resp.Get("daemon")) + " " + str(resp.Get("version"))), nil
}

// Stats returns the daemon's "stats" response as a tree.
func (c *Client) Stats(ctx context.Context) (map[string]any, error) {
	resp, err := c.s.Call(ctx, "stats", nil)
	if err != nil {
		return nil, err
	}
	return Tree(resp), nil
}

// ListSAs returns the IKE SAs as VICI trees, keyed by connection name
// (one map per list-sa event).
func (c *Client) ListSAs(ctx context.Context, conn string) ([]map[string]any, error) {
	m := vici.NewMessage()
	if conn != "" {
		_ = m.Set("ike", conn)
	}
	var out []map[string]any
	for ev, err := range c.s.CallStreaming(ctx, "list-sas", "list-sa", m) {
		if err != nil {
			return nil, err
		}
		if ev.Get("success") != nil || len(ev.Keys()) == 0 {
			continue // the final command response
		}
		out = append(out, Tree(ev))
	}
	return out, nil
}

// Tree converts a VICI message into nested maps, strings and string slices
// (for JSON output and simple lookups).
func Tree(m *vici.Message) map[string]any {
	out := map[string]any{}
	for _, k := range m.Keys() {
		switch v := m.Get(k).(type) {
		case *vici.Message:
			out[k] = Tree(v)
		default:
			out[k] = v
		}
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Reload asks the daemon to re-read its config file and apply the changes
// (VICI reload-settings; the same as SIGHUP).
func (c *Client) Reload(ctx context.Context) error {
	resp, err := c.s.Call(ctx, "reload-settings", nil)
	if err != nil {
		return commandError(resp, err)
	}
	return nil
}
