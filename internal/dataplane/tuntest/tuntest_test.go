package tuntest

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

func TestReadBatchesInjected(t *testing.T) {
	d := New("t0", 1400, 2, 4)
	for i := range 3 {
		if err := d.Inject([]byte{byte(i), 1, 2}); err != nil {
			t.Fatal(err)
		}
	}
	bufs := [][]byte{make([]byte, 100), make([]byte, 100), make([]byte, 100)}
	sizes := make([]int, 3)
	n, err := d.Read(bufs, sizes, 10)
	if err != nil || n != 2 {
		t.Fatalf("Read = %d, %v; want 2 (the batch size)", n, err)
	}
	for i := range n {
		if got := bufs[i][10 : 10+sizes[i]]; !bytes.Equal(got, []byte{byte(i), 1, 2}) {
			t.Fatalf("packet %d = % x", i, got)
		}
	}
	if n, _ := d.Read(bufs, sizes, 10); n != 1 || bufs[0][10] != 2 {
		t.Fatalf("second Read = %d packets, first byte %d", n, bufs[0][10])
	}
}

func TestWrite(t *testing.T) {
	d := New("t0", 1400, 1, 1)
	var got [][]byte
	d.SetWriteHandler(func(p []byte) { got = append(got, bytes.Clone(p)) })
	if _, err := d.Write([][]byte{make([]byte, 20)}, 9); err == nil {
		t.Fatal("Write with offset 9 (< virtio header) succeeded")
	}
	n, err := d.Write([][]byte{append(make([]byte, 10), 'a'), append(make([]byte, 10), 'b')}, 10)
	if err != nil || n != 2 || len(got) != 2 || string(got[0]) != "a" || string(got[1]) != "b" {
		t.Fatalf("Write = %d, %v; handler got %q", n, err, got)
	}
}

func TestCloseUnblocks(t *testing.T) {
	d := New("t0", 1400, 1, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := d.Read([][]byte{make([]byte, 100)}, make([]int, 1), 0)
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	d.Close()
	if err := <-errc; !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if err := d.Inject([]byte{1}); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Inject after Close: %v", err)
	}
	if _, ok := <-d.Events(); ok {
		if _, ok := <-d.Events(); ok {
			t.Fatal("Events not closed")
		}
	}
}
