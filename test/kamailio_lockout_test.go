package test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-voip/tollgate/internal/testenv"
)

// TestKamailioAccountLockout attacks an account behind the shipped
// Kamailio configuration. bob's phones call; Kamailio tells tollgate of
// the successful logins. Five addresses guess bob's password
// once each (none reaches its ban threshold); Kamailio reports the
// failures and tollgate locks bob, allowing the phone. Then, at the
// edge, before any password check: a new address gets 403 with the
// right password and the same 403 with a wrong one (no password
// oracle, no 407 to guess again), also when it claims the phone's
// address in X-Source-IP; the refusals count against the address,
// which tollgate bans; bob's phone still calls.
func TestKamailioAccountLockout(t *testing.T) {
	t.Setenv("TOLLGATE_TEST_ADMIN_TOKEN", adminToken)
	r := newRigWith(t, rigOptions{
		policy: kamGuardPolicy,
		subs:   []subscriber{{user: "bob", password: "bob-pw", extension: "3005", tenant: "acme"}},
	})
	// The desk phone: a SIPp call from 127.0.0.1 (SIPp's From domain is
	// its own address, the subscriber's domain). The softphone at
	// 127.0.0.9 logs in too; its call to Somalia reaches tollgate, which
	// refuses the destination.
	const phone = "127.0.0.9"
	if ok, trace := r.call("uac_auth_call.xml", "bob;+12125550100"); !ok {
		t.Fatalf("bob's desk phone could not call before the attack:\n%s", testenv.Tail(trace, 3000))
	}
	if got := digestInvite(t, phone, r.kamPort, "bob", "bob", "bob-pw"); !strings.Contains(got, "X-Tollgate-Verdict") {
		t.Fatalf("bob's softphone did not reach tollgate before the attack:\n%s", got)
	}
	for i := range 5 {
		src := fmt.Sprint("127.0.0.", 20+i)
		if got := firstLine(digestInvite(t, src, r.kamPort, "bob", "bob", fmt.Sprint("guess-", i))); !strings.HasPrefix(got, "SIP/2.0 407") {
			t.Fatalf("wrong password from %s: %q, want a new 407", src, got)
		}
	}
	var lock struct {
		Locked  bool `json:"locked"`
		Lockout struct {
			Allowed []string `json:"allowed"`
			Tenant  string   `json:"tenant"`
		} `json:"lockout"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.api(t, "GET", "/v1/lockouts/account/bob?ip=127.0.0.30", "", &lock) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("five failed logins for bob through Kamailio: no lockout in tollgate")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !slices.Contains(lock.Lockout.Allowed, phone) || !slices.Contains(lock.Lockout.Allowed, "127.0.0.1") {
		t.Fatalf("bob's lockout allows %q; want both phones (Kamailio's auth_success)", lock.Lockout.Allowed)
	}
	if code := r.api(t, "GET", "/v1/lockouts/account/bob?ip="+phone, "", nil); code != http.StatusNotFound {
		t.Fatalf("lockout query for the phone: HTTP %d, want 404", code)
	}

	invites := r.srv.SIP.Stats().Invites.Load()
	right := digestInvite(t, "127.0.0.30", r.kamPort, "bob", "bob", "bob-pw")
	wrong := digestInvite(t, "127.0.0.31", r.kamPort, "bob", "bob", "not-it")
	spoof := digestInviteWith(t, "127.0.0.32", r.kamPort, "bob", "bob", "bob-pw", "X-Source-IP: "+phone+"\r\n")
	for name, got := range map[string]string{"right password": right, "wrong password": wrong, "right password, X-Source-IP of the phone": spoof} {
		if !strings.HasPrefix(got, "SIP/2.0 403") || strings.Contains(got, "X-Tollgate-Verdict") {
			t.Errorf("%s from a new address: want Kamailio's 403 before the password check, got\n%s", name, got)
		}
	}
	if firstLine(right) != firstLine(wrong) {
		t.Errorf("right and wrong password answered differently: %q vs %q (a password oracle)", firstLine(right), firstLine(wrong))
	}
	if n := r.srv.SIP.Stats().Invites.Load(); n != invites {
		t.Errorf("tollgate screened %d INVITEs for the locked account from new addresses; Kamailio should have refused them", n-invites)
	}
	// Three such guesses from one address ban it.
	for range 2 {
		digestInvite(t, "127.0.0.30", r.kamPort, "bob", "bob", "bob-pw")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var bans struct {
			Bans []struct {
				IP string `json:"ip"`
			} `json:"bans"`
		}
		r.api(t, "GET", "/v1/bans", "", &bans)
		if slices.ContainsFunc(bans.Bans, func(b struct {
			IP string `json:"ip"`
		}) bool {
			return b.IP == "127.0.0.30"
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("three refused logins for the locked bob from 127.0.0.30 did not ban it: %+v", bans)
		}
	}
	if got := digestInvite(t, phone, r.kamPort, "bob", "bob", "bob-pw"); !strings.Contains(got, "X-Tollgate-Verdict") {
		t.Errorf("bob's softphone refused at the edge while bob is locked:\n%s", got)
	}
	if ok, trace := r.call("uac_auth_call.xml", "bob;+12125550100"); !ok {
		t.Fatalf("bob's desk phone refused while bob is locked:\n%s", testenv.Tail(trace, 3000))
	}
}
