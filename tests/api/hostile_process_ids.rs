//! A process id is caller input placed in a URL path: whatever it holds, the
//! facade calls exactly `/client/v1/process/<one segment>/document`.

use tonic::Code;

use crate::helpers::spawn_app;

#[tokio::test]
async fn hostile_ids_never_change_which_url_is_called() {
    let app = spawn_app().await;
    let cases = [
        ("../x", "..%2Fx"),
        ("../../admin", "..%2F..%2Fadmin"),
        ("a/b", "a%2Fb"),
        ("?x=1", "%3Fx%3D1"),
        ("#frag", "%23frag"),
        ("with space", "with%20space"),
        ("ünïcødé-✓", "%C3%BCn%C3%AFc%C3%B8d%C3%A9-%E2%9C%93"),
        ("%2F", "%252F"),
        ("a%2F..%2Fb", "a%252F..%252Fb"),
        ("...", "..."),
        ("\\", "%5C"),
    ];
    for (id, encoded) in cases {
        let status = app.set_document_of(id).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{id:?}: {status:?}");

        let requests = app.requests();
        let sent = requests.last().expect("a request was sent");
        assert_eq!(
            sent.raw_path,
            format!("/client/v1/process/{encoded}/document"),
            "{id:?}"
        );
        assert_eq!(
            sent.process_id.as_deref(),
            Some(id),
            "{id:?} decoded by the emulator"
        );
        assert_eq!(sent.query, None, "{id:?}");
    }
}

#[tokio::test]
async fn ids_that_cannot_be_one_segment_are_refused_before_any_call() {
    let app = spawn_app().await;
    for id in [".", "..", "x".repeat(10 * 1024).as_str(), "a\r\nb"] {
        let status = app.set_document_of(id).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{id:?}");
    }
    assert!(app.requests().is_empty());
}
