package util;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;

/**
 * The one JSON mapper: snake_case fields (as nsqd's HTTP API and mqueue's own formats use) and
 * unknown fields ignored (nsqd adds fields between versions). Loaded only by code that needs it:
 * Jackson's first use costs ~0.5 s of class loading, so nothing on a consumer's start path does.
 */
public final class Json {
    public static final ObjectMapper MAPPER = new ObjectMapper()
        .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
        .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private Json() {}
}
