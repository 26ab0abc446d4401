package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tollgate-voip/tollgate/store/storetest"
	vstore "github.com/tollgate-voip/tollgate/voice/store"
)

// TestVoiceSuite runs the voice store conformance suite on a file in a
// fresh directory; every handle is another process's view of the file.
func TestVoiceSuite(t *testing.T) {
	storetest.RunVoice(t, func(t *testing.T) *storetest.VoiceDB {
		path := filepath.Join(t.TempDir(), "voice.db")
		open := func(k *vstore.Keys) *Voice {
			s, err := OpenVoice(path, k)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		return &storetest.VoiceDB{
			Open: func(k *vstore.Keys) storetest.VoiceStore { return open(k) },
			Raw: func() []byte {
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				wal, _ := os.ReadFile(path + "-wal")
				return append(raw, wal...)
			},
			CopySubject: func(tenant, from, to string) {
				s, err := OpenVoice(path, storetest.VoiceKeys(t, 9))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if _, err := s.w.Exec(`INSERT INTO voice_subjects SELECT tenant,?,kind,key_id,sealed,created_ns,updated_ns FROM voice_subjects WHERE tenant=? AND id=?`, to, tenant, from); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}

// TestOpenVoiceWithoutKeys: voice records are never stored in the clear.
func TestOpenVoiceWithoutKeys(t *testing.T) {
	if _, err := OpenVoice(filepath.Join(t.TempDir(), "voice.db"), nil); err == nil {
		t.Error("opened without keys")
	}
}
