package honeypot_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/honeypot"
)

// TestTCP: SIPp calls the decoy over TCP: the call is answered, its
// digits collected and the decoy's BYE arrives on the same connection;
// the events say tcp. A stream that cannot be framed is recorded as
// malformed and its connection closed; OPTIONS over TCP shows the banner.
func TestTCP(t *testing.T) {
	r := newRigWith(t, func(o *honeypot.Options) { o.ListenTCP = "127.0.0.1:0" })
	tcpPort := strconv.Itoa(int(r.hp.TCPAddr().Port()))

	scenario, _ := filepath.Abs("testdata/uac_dtmf.xml")
	// SIPp exits 0 only when its call succeeded, which needs the decoy's
	// BYE to come back on the TCP connection.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sipp := exec.CommandContext(ctx, "sipp", "-sf", scenario, "-t", "t1", "-s", "011442079460124", "-i", "127.0.0.11", "-mi", "127.0.0.11",
		"-p", "0", "-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin", "-trace_err", "-error_file", filepath.Join(t.TempDir(), "sipp.err"),
		"127.0.0.1:"+tcpPort)
	outb, err := sipp.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Errorf("sipp over TCP: %v\n%s", err, out)
	}
	waitFor(t, "the TCP decoy call hung up", func() bool {
		for _, e := range r.events(t, "127.0.0.11") {
			if e.Kind == honeypot.EvHangup {
				return true
			}
		}
		return false
	})
	var invite, hangup honeypot.Event
	for _, e := range r.events(t, "127.0.0.11") {
		switch e.Kind {
		case honeypot.EvInvite:
			invite = e
		case honeypot.EvHangup:
			hangup = e
		}
	}
	if invite.Transport != "tcp" || invite.E164 != "+442079460124" {
		t.Errorf("INVITE over TCP recorded as %+v", invite)
	}
	if hangup.Digits != "12" || !strings.Contains(hangup.Detail, "decoy hung up") {
		t.Errorf("hangup over TCP: digits %q detail %q\nsipp:\n%s", hangup.Digits, hangup.Detail, out)
	}

	// OPTIONS over TCP from a scanner.
	c, err := net.Dial("tcp", r.hp.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	local := c.LocalAddr().String()
	fmt.Fprintf(c, "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bKtcp1\r\nFrom: <sip:scan@x>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: tcp-opt-1\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n", local)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TCP: %q %v", line, err)
	}

	// A message without Content-Length cannot be framed on a stream.
	c2, err := net.Dial("tcp", r.hp.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c2, "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP %s;branch=z9hG4bKtcp2\r\nCall-ID: tcp-bad\r\n\r\n", c2.LocalAddr())
	buf := make([]byte, 4096)
	for {
		if _, err := c2.Read(buf); err != nil {
			break // closed by the decoy (or it answered and then closed)
		}
	}
	waitFor(t, "the unframed stream recorded", func() bool {
		for _, e := range r.events(t, "127.0.0.1") {
			if e.Transport == "tcp" && strings.Contains(string(e.Message), "tcp-bad") {
				return true
			}
		}
		return false
	})
}
