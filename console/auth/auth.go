// Package auth keeps the people who use the operator console: local users
// with roles and a tenant scope, passwords hashed with argon2id, a TOTP
// second factor (RFC 6238), sessions and lockout after repeated failures.
// Users and sessions live behind the Store interface (store/sqlite.Users
// by default, store/postgres.Users in a cluster) so that several tollgate
// nodes can share them.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tollgate-voip/tollgate/internal/errkind"
	"github.com/tollgate-voip/tollgate/store"
)

// Role is what a person may do in the console.
type Role string

// Roles, from most to least powerful.
const (
	// RoleAdmin may do everything, including users, counters and the audit log.
	RoleAdmin Role = "admin"
	// RoleOperator handles incidents: blocks, alerts and the kill switch.
	RoleOperator Role = "operator"
	// RoleViewer may only look.
	RoleViewer Role = "viewer"
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAdmin, RoleOperator, RoleViewer:
		return r, nil
	}
	return "", fmt.Errorf("auth: role: want admin, operator or viewer, got %q", s)
}

// Can reports whether the role may do something that needs need.
func (r Role) Can(need Role) bool {
	switch r {
	case RoleAdmin:
		return true
	case RoleOperator:
		return need == RoleOperator || need == RoleViewer
	case RoleViewer:
		return need == RoleViewer
	}
	return false
}

// User is one person. Tenant "" means every tenant; otherwise the user
// sees and changes only that tenant's calls, blocks, alerts and kill switch.
type User struct {
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	Tenant       string    `json:"tenant,omitempty"`
	PasswordHash string    `json:"-"`
	TOTPSecret   []byte    `json:"-"`
	TOTPLast     int64     `json:"-"` // last accepted time step: no replay
	Failed       int       `json:"failed_logins"`
	Locks        int       `json:"locks"` // lockouts since the last good login: each doubles the next
	LockedUntil  time.Time `json:"locked_until,omitzero"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// MFA reports whether the user has a TOTP second factor.
func (u *User) MFA() bool { return len(u.TOTPSecret) > 0 }

// Session is a logged-in browser. ID is the SHA-256 of the cookie value, so
// a copy of the store does not hand out live sessions.
type Session struct {
	ID       string
	User     string
	CSRF     string
	Created  time.Time
	LastSeen time.Time
}

// Errors.
var (
	ErrNotFound = errkind.New(errkind.NotFound, "auth: not found")
	ErrExists   = errkind.New(errkind.Conflict, "auth: already exists")
	// ErrBadLogin is every wrong user, password or code, and a locked
	// account: the caller learns nothing about which part was wrong, nor
	// whether the user exists.
	ErrBadLogin = errors.New("wrong user name, password or code (after repeated failures an account is locked for a while)")
	// ErrThrottled refuses every login from an address that has failed too
	// often, whatever the user; it says nothing about any account.
	ErrThrottled = errors.New("too many failed logins from your address; try again later")
	ErrNoMFA     = errors.New("two-factor authentication is required but not set up for this user: run 'tollgate user mfa NAME'")
)

// Store keeps users and sessions. Implementations must make the failure
// counter, the lock and the TOTP step updates atomic, since several nodes
// may share one store.
//
// A login is one attempt: LoginAttempt reserves it (counting it as a
// failure) before the password is hashed, and LoginFailed or LoginOK
// settles it afterwards. So the lock is decided on the count itself, not
// on a value read before a slow hash, and concurrent guesses cannot all
// be checked.
type Store interface {
	AddUser(ctx context.Context, u User) error // ErrExists if the name is taken
	PutUser(ctx context.Context, u User) error // replace; ErrNotFound if missing
	User(ctx context.Context, name string) (User, error)
	Users(ctx context.Context) ([]User, error)
	DeleteUser(ctx context.Context, name string) error
	// LoginAttempt reserves one attempt: it refuses (false, changing
	// nothing) while the user is locked or already has max attempts
	// counted; otherwise it adds one to the count and returns true. A lock
	// that has run out, or max attempts counted but never settled for
	// stale (a node died mid-login), starts the count afresh at 1.
	// ErrNotFound for an unknown user.
	LoginAttempt(ctx context.Context, name string, now time.Time, max int, stale time.Duration) (bool, error)
	// LoginFailed settles a reserved attempt that failed: if max or more
	// attempts are counted and no lock is active it locks the user until
	// now + lock<<locks (capped at maxLock), locks being the number of
	// locks since the last good login, and adds one to locks. It returns
	// the count, the lock time and whether this call set the lock (only
	// one of several concurrent callers does).
	LoginFailed(ctx context.Context, name string, now time.Time, max int, lock, maxLock time.Duration) (int, time.Time, bool, error)
	// LoginOK settles a reserved attempt that succeeded: it clears the
	// count and the locks and records step as the last TOTP step used. It
	// returns false and changes nothing if step is not above the last one
	// (the code was replayed) or the user is locked at now: a good
	// password never lifts a lock.
	LoginOK(ctx context.Context, name string, step int64, now time.Time) (bool, error)
	// SourceAttempt reserves one attempt for a source address: within
	// window of the source's first counted attempt it refuses (false)
	// once max are counted; otherwise it adds one and returns true with
	// the new count.
	SourceAttempt(ctx context.Context, source string, now time.Time, window time.Duration, max int) (int, bool, error)
	// SourceOK gives back the attempt of a source that logged in: only
	// failures count against an address.
	SourceOK(ctx context.Context, source string) error
	AddSession(ctx context.Context, s Session) error
	Session(ctx context.Context, id string) (Session, error)
	TouchSession(ctx context.Context, id string, now time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteSessions(ctx context.Context, user string) error
	// PruneSessions drops sessions last seen before idle and created before
	// absolute, and source counts begun before idle.
	PruneSessions(ctx context.Context, idle, absolute time.Time) error
	Close() error
}

// Policy is how strict logins are.
//
// Two limits work together. Per user: MaxFailures attempts, then a lock of
// LockFor that doubles with each further lock until a good login (capped
// at MaxLock), so a patient guesser gets a few dozen tries a day rather
// than 480. Per source address (IPv6 counted per /64): SourceMaxFailures
// failed attempts in SourceWindow, after which the address is refused
// before any user is looked up or any password hashed. The per-user lock
// alone would let anyone lock anyone out from one address; the
// per-source limit alone would let a botnet guess one password forever.
// With both, one address can lock at most SourceMaxFailures/MaxFailures
// accounts a window, and guessing is bounded per account however many
// addresses the guesser has.
type Policy struct {
	RequireMFA        bool
	MaxFailures       int           // failures before lockout (5)
	LockFor           time.Duration // first lockout (15 min), doubled for each further one
	MaxLock           time.Duration // longest lockout (24 h)
	SourceMaxFailures int           // failures from one address per window (10)
	SourceWindow      time.Duration // (15 min)
	IdleTimeout       time.Duration // session expires after this long unused (30 min)
	MaxAge            time.Duration // and this long after login whatever (12 h)
	Issuer            string        // TOTP issuer shown in apps ("tollgate")
	PasswordCost      Params
}

// DefaultPolicy returns the defaults documented on Policy.
func DefaultPolicy() Policy {
	return Policy{RequireMFA: true, MaxFailures: 5, LockFor: 15 * time.Minute, MaxLock: 24 * time.Hour,
		SourceMaxFailures: 10, SourceWindow: 15 * time.Minute,
		IdleTimeout: 30 * time.Minute, MaxAge: 12 * time.Hour, Issuer: "tollgate", PasswordCost: DefaultParams}
}

// LockShift is the smallest k with lock<<k ≥ maxLock (at most 62): the
// stores double a lock at most that many times before capping it at
// maxLock, so the shift cannot overflow.
func LockShift(lock, maxLock time.Duration) int {
	k := 0
	for k < 62 && lock > 0 && lock<<k < maxLock && lock<<(k+1) > lock<<k {
		k++
	}
	return k
}

// staleAttempt is how long a reserved attempt may stay unsettled before
// it is taken for one whose node died mid-login.
const staleAttempt = time.Minute

// Service logs people in and out and manages users, recording each step
// in the audit log.
type Service struct {
	Store  Store
	Audit  store.Audit // may be nil
	Policy Policy
	// Now is the clock (time.Now by default).
	Now func() time.Time

	dummy     string // hash checked for unknown users, so timing tells nothing
	dummyOnce sync.Once
}

// NewService returns a Service.
func NewService(st Store, audit store.Audit, p Policy) *Service {
	return &Service{Store: st, Audit: audit, Policy: p, Now: time.Now}
}

// spendDummy does the work of one password check for a login with no
// hash of its own to check (an unknown or a locked user), so timing tells
// nothing. The dummy hash is made on first use rather than at start: an
// argon2id pass touches its whole memory (64 MiB by default), which a
// node starting up, possibly after a crash, need not hold before it
// serves. Making the hash costs what checking it does, so the first such
// login takes as long as the later ones.
func (s *Service) spendDummy(password string) {
	made := false
	s.dummyOnce.Do(func() {
		s.dummy, _ = HashPassword("tollgate-dummy-password", s.Policy.PasswordCost)
		made = true
	})
	if !made {
		CheckHash(s.dummy, password)
	}
}

func (s *Service) now() time.Time { return s.Now() }

// audit appends an entry; a failure to audit is returned so that changes
// are never made silently.
func (s *Service) audit(ctx context.Context, actor, action, object string, details map[string]any) error {
	if s.Audit == nil {
		return nil
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return err
	}
	_, err = s.Audit.AppendAudit(ctx, store.AuditEntry{Time: s.now().UTC(), Actor: actor, Action: action, Object: object, Details: raw})
	return err
}

// CheckName validates a user name: 1–64 characters of letters, digits and . _ @ -.
func CheckName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 64 {
		return errors.New("auth: user name: want 1–64 characters")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._@-", r)) {
			return fmt.Errorf("auth: user name: %q is not allowed (letters, digits, . _ @ -)", r)
		}
	}
	return nil
}

// CheckPassword enforces a minimum: 12 characters (NIST SP 800-63B asks
// for at least 8 and for allowing long ones; we allow up to 1024).
func CheckPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < 12 {
		return errors.New("auth: password: want at least 12 characters")
	}
	if len(pw) > 1024 {
		return errors.New("auth: password: longer than 1024 bytes")
	}
	return nil
}

// AddUser creates a user. actor is who did it, for the audit log.
func (s *Service) AddUser(ctx context.Context, actor string, u User, password string) error {
	if err := CheckName(u.Name); err != nil {
		return err
	}
	if _, err := ParseRole(string(u.Role)); err != nil {
		return err
	}
	if err := CheckPassword(password); err != nil {
		return err
	}
	h, err := HashPassword(password, s.Policy.PasswordCost)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	u.PasswordHash, u.Created, u.Updated = h, now, now
	if err := s.Store.AddUser(ctx, u); err != nil {
		return err
	}
	return s.audit(ctx, actor, "user.create", "user/"+u.Name, map[string]any{"role": u.Role, "tenant": u.Tenant, "mfa": u.MFA()})
}

// SetPassword replaces a user's password and ends their sessions.
func (s *Service) SetPassword(ctx context.Context, actor, name, password string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	u, err := s.Store.User(ctx, name)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = HashPassword(password, s.Policy.PasswordCost); err != nil {
		return err
	}
	u.Failed, u.Locks, u.LockedUntil, u.Updated = 0, 0, time.Time{}, s.now().UTC()
	if err := s.Store.PutUser(ctx, u); err != nil {
		return err
	}
	if err := s.Store.DeleteSessions(ctx, name); err != nil {
		return err
	}
	return s.audit(ctx, actor, "user.password", "user/"+name, map[string]any{})
}

// SetTOTP gives a user a new TOTP secret (nil removes the second factor).
func (s *Service) SetTOTP(ctx context.Context, actor, name string, secret []byte) error {
	u, err := s.Store.User(ctx, name)
	if err != nil {
		return err
	}
	u.TOTPSecret, u.TOTPLast, u.Updated = secret, 0, s.now().UTC()
	if err := s.Store.PutUser(ctx, u); err != nil {
		return err
	}
	return s.audit(ctx, actor, "user.mfa", "user/"+name, map[string]any{"enabled": secret != nil})
}

// SetRole changes a user's role and tenant scope and ends their sessions.
func (s *Service) SetRole(ctx context.Context, actor, name string, role Role, tenant string) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	u, err := s.Store.User(ctx, name)
	if err != nil {
		return err
	}
	u.Role, u.Tenant, u.Updated = role, tenant, s.now().UTC()
	if err := s.Store.PutUser(ctx, u); err != nil {
		return err
	}
	if err := s.Store.DeleteSessions(ctx, name); err != nil {
		return err
	}
	return s.audit(ctx, actor, "user.role", "user/"+name, map[string]any{"role": role, "tenant": tenant})
}

// DeleteUser removes a user and their sessions.
func (s *Service) DeleteUser(ctx context.Context, actor, name string) error {
	if err := s.Store.DeleteSessions(ctx, name); err != nil {
		return err
	}
	if err := s.Store.DeleteUser(ctx, name); err != nil {
		return err
	}
	return s.audit(ctx, actor, "user.delete", "user/"+name, map[string]any{})
}

// Login checks a password and TOTP code. On success it returns the cookie
// value of a new session (shown only now; the store keeps its hash), the
// session and the user. Every failure is audited and answered with
// ErrBadLogin, whether the user is unknown, locked or mistaken, after the
// same amount of hashing; an address over its limit gets ErrThrottled
// before anything is looked up. See Policy for the limits.
func (s *Service) Login(ctx context.Context, name, password, code, from string) (string, Session, User, error) {
	now := s.now()
	u, err := s.verify(ctx, name, password, code, from, now, false)
	if err != nil {
		return "", Session{}, User{}, err
	}
	cookie, sess, err := s.newSession(ctx, u.Name, now)
	if err != nil {
		return "", Session{}, User{}, err
	}
	if err := s.audit(ctx, "user:"+u.Name, "login", "user/"+u.Name, map[string]any{"from": from, "mfa": u.MFA()}); err != nil {
		return "", Session{}, User{}, err
	}
	return cookie, sess, u, nil
}

// ReplaceTOTP gives the logged-in user name a new TOTP secret, but only
// after they prove it is them with their password and, if they already
// have a second factor, a current code from it: a stolen session alone
// cannot take over the second factor. The proof goes through the same
// limits and lockout as a login.
func (s *Service) ReplaceTOTP(ctx context.Context, name, password, code, from string, secret []byte) error {
	if _, err := s.verify(ctx, name, password, code, from, s.now(), true); err != nil {
		return err
	}
	return s.SetTOTP(ctx, "user:"+name, name, secret)
}

// verify checks a user's password and code under the limits; enrolling
// lets a user without a second factor through although one is required.
func (s *Service) verify(ctx context.Context, name, password, code, from string, now time.Time, enrolling bool) (User, error) {
	src := SourceKey(from)
	if s.Policy.SourceMaxFailures > 0 {
		n, ok, err := s.Store.SourceAttempt(ctx, src, now, s.Policy.SourceWindow, s.Policy.SourceMaxFailures)
		if err != nil {
			return User{}, err
		}
		if !ok {
			return User{}, ErrThrottled
		}
		if n == s.Policy.SourceMaxFailures {
			_ = s.audit(ctx, "tollgate", "login.source_limited", "source/"+clip(src), map[string]any{"failures": n, "window": s.Policy.SourceWindow.String()})
		}
	}
	u, err := s.Store.User(ctx, name)
	if errors.Is(err, ErrNotFound) {
		s.spendDummy(password) // same work as for a real user
		_ = s.audit(ctx, "user:"+clip(name), "login.failed", "user/"+clip(name), map[string]any{"from": from, "why": "unknown user"})
		return User{}, ErrBadLogin
	}
	if err != nil {
		return User{}, err
	}
	actor := "user:" + u.Name
	ok, err := s.Store.LoginAttempt(ctx, u.Name, now, s.Policy.MaxFailures, staleAttempt)
	if err != nil {
		return User{}, err
	}
	if !ok {
		s.spendDummy(password) // a locked user costs what an unknown one does
		_ = s.audit(ctx, actor, "login.failed", "user/"+u.Name, map[string]any{"from": from, "why": "locked"})
		return User{}, ErrBadLogin
	}
	fail := func(why string) (User, error) {
		n, until, locked, ferr := s.Store.LoginFailed(ctx, u.Name, now, s.Policy.MaxFailures, s.Policy.LockFor, s.Policy.MaxLock)
		if ferr != nil {
			return User{}, ferr
		}
		_ = s.audit(ctx, actor, "login.failed", "user/"+u.Name, map[string]any{"from": from, "why": why, "failures": n})
		if locked {
			_ = s.audit(ctx, "tollgate", "user.locked", "user/"+u.Name, map[string]any{"until": until.UTC(), "failures": n})
		}
		return User{}, ErrBadLogin
	}
	if !CheckHash(u.PasswordHash, password) {
		return fail("password")
	}
	var step int64
	switch {
	case u.MFA():
		t := TOTP{Secret: u.TOTPSecret}
		var ok bool
		if step, ok = t.Verify(code, now, u.TOTPLast); !ok {
			return fail("code")
		}
	case s.Policy.RequireMFA && !enrolling:
		// The password was right: settle the attempt as good (no session).
		if _, err := s.Store.LoginOK(ctx, u.Name, 0, now); err != nil {
			return User{}, err
		}
		_ = s.audit(ctx, actor, "login.failed", "user/"+u.Name, map[string]any{"from": from, "why": "no second factor set up"})
		return User{}, ErrNoMFA
	}
	// Re-check after the hash: concurrent failures may have locked the
	// user meanwhile, and then this login does not count.
	fresh, err := s.Store.LoginOK(ctx, u.Name, step, now)
	if err != nil {
		return User{}, err
	}
	if !fresh {
		return fail("code replayed or locked meanwhile")
	}
	if s.Policy.SourceMaxFailures > 0 {
		if err := s.Store.SourceOK(ctx, src); err != nil {
			return User{}, err
		}
	}
	return u, nil
}

// SourceKey is the address a login is counted against: an IPv4 address
// as it is, an IPv6 one cut to its /64 (one customer's usual allocation,
// so a host cannot dodge the limit by hopping addresses), anything else
// as given.
func SourceKey(from string) string {
	a, err := netip.ParseAddr(from)
	if err != nil {
		return from
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

func clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.ToValidUTF8(s, "?")
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// SessionID returns the stored form of a session cookie value.
func SessionID(cookie string) string {
	h := sha256.Sum256([]byte(cookie))
	return hex.EncodeToString(h[:])
}

func (s *Service) newSession(ctx context.Context, user string, now time.Time) (string, Session, error) {
	cookie, err := randomToken()
	if err != nil {
		return "", Session{}, err
	}
	csrf, err := randomToken()
	if err != nil {
		return "", Session{}, err
	}
	sess := Session{ID: SessionID(cookie), User: user, CSRF: csrf, Created: now.UTC(), LastSeen: now.UTC()}
	if err := s.Store.AddSession(ctx, sess); err != nil {
		return "", Session{}, err
	}
	return cookie, sess, nil
}

// Authenticate returns the session and user behind a cookie value, or
// ErrNotFound when it is unknown, expired or its user is gone or locked.
func (s *Service) Authenticate(ctx context.Context, cookie string) (Session, User, error) {
	if cookie == "" || len(cookie) > 128 {
		return Session{}, User{}, ErrNotFound
	}
	id := SessionID(cookie)
	sess, err := s.Store.Session(ctx, id)
	if err != nil {
		return Session{}, User{}, err
	}
	now := s.now()
	if now.Sub(sess.LastSeen) > s.Policy.IdleTimeout || now.Sub(sess.Created) > s.Policy.MaxAge {
		_ = s.Store.DeleteSession(ctx, id)
		return Session{}, User{}, ErrNotFound
	}
	u, err := s.Store.User(ctx, sess.User)
	if err != nil {
		return Session{}, User{}, ErrNotFound
	}
	if now.Before(u.LockedUntil) {
		return Session{}, User{}, ErrNotFound
	}
	if now.Sub(sess.LastSeen) > time.Minute { // write at most once a minute per session
		if err := s.Store.TouchSession(ctx, id, now.UTC()); err != nil {
			return Session{}, User{}, err
		}
	}
	return sess, u, nil
}

// Logout ends a session.
func (s *Service) Logout(ctx context.Context, sess Session) error {
	if err := s.Store.DeleteSession(ctx, sess.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return s.audit(ctx, "user:"+sess.User, "logout", "user/"+sess.User, map[string]any{})
}
