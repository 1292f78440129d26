/** 32 random bytes in base64url, never starting with "-", which a command line would read as an option (`--admin-token -x…`). */
export function bearerToken(): string;
