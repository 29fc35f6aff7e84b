import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;

public class Evaluate {
    public static void main(String[] args) throws Exception {
        String base = System.getenv().getOrDefault("ELIGIBILITY_URL", "http://127.0.0.1:8000");
        String key = System.getenv("ELIGIBILITY_KEY");            // 从配置读取，不写进代码 / from config, never in code
        HttpClient client = HttpClient.newBuilder()                // 复用一个客户端：连接保持 / one client: keep-alive
                .connectTimeout(Duration.ofSeconds(5)).build();
        HttpRequest request = HttpRequest.newBuilder()
                .uri(URI.create(base + "/v1/evaluate?as_of=2023-09-30&trace=none"))
                .timeout(Duration.ofSeconds(10))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json; charset=utf-8")
                .POST(HttpRequest.BodyPublishers.ofFile(Path.of(args[0])))
                .build();
        HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
        String rules = response.headers().firstValue("Eligibility-Ruleset").orElse("?");
        if (response.statusCode() == 200) {
            System.out.println("规则集 / rules " + rules);
            System.out.println(response.body());                   // Decision JSON（见 /v1/schema/decision）
        } else if (response.statusCode() == 429) {
            long wait = Long.parseLong(response.headers().firstValue("Retry-After").orElse("1"));
            System.err.println("稍后重试 / retry in " + wait + " s");
        } else {                                                   // application/problem+json (RFC 9457)
            System.err.println(response.statusCode() + " " + response.body());
        }
    }
}
