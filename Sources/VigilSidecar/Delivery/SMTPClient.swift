import CCurl
import Foundation
import VigilAlerting

/// Sends a mail through libcurl (loaded at run time; see CCurl). Blocks, like delivery's POST,
/// on delivery's own thread.
enum SMTPClient {
    static func send(_ request: OutgoingRequest, _ mail: MailEnvelope, timeout: Int64) -> HTTPResult {
        guard vigil_curl_available() != 0 else { return .failed("libcurl.so.4 cannot be loaded: no mail can be sent") }
        var reply = 0
        var err = [CChar](repeating: 0, count: 512)
        let recipients = mail.to.map { strdup($0) }
        defer { recipients.forEach { free($0) } }
        let code: Int32 = recipients.map { UnsafePointer($0) }.withUnsafeBufferPointer { to in
            request.body.withUnsafeBytes { body in
                vigil_smtp_send(request.url.reveal(), mail.from, to.baseAddress, Int32(to.count), mail.username, mail.password?.reveal(),
                                mail.caFile, mail.requireTLS ? 1 : 0, Int(max(1, timeout / 1_000_000)),
                                body.baseAddress?.assumingMemoryBound(to: CChar.self), body.count, &reply, &err, err.count)
            }
        }
        let why = HTTPClient.text(err)
        if code == 0 { return .reply(reply == 0 ? 250 : reply, "") }
        if reply >= 400 { return .reply(reply, why) }
        // No SMTP verdict: the connection, TLS or login failed before one (retried).
        return HTTPClient.failure(code, why, nil)
    }
}
