"use strict";
// The login form: POST /api/auth/login (JSON); the answer sets the HttpOnly session cookie.
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const error = document.getElementById("error");
  const button = document.getElementById("submit");
  error.hidden = true;
  button.disabled = true;
  try {
    const resp = await fetch("/api/auth/login", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({
        username: document.getElementById("username").value.trim(),
        password: document.getElementById("password").value,
      }),
    });
    if (resp.ok) {
      // back where the sign-in was asked for (/m/ for the phone page); only a path of this site
      const next = new URLSearchParams(window.location.search).get("next") || "/";
      window.location.replace(/^\/(?![\/\\])/.test(next) ? next : "/");
      return;
    }
    const body = await resp.json().catch(() => ({}));
    error.textContent = resp.status === 401 ? "用户名或密码错误 Wrong user name or password"
      : resp.status === 429 ? "尝试次数过多，请稍后再试 Too many attempts: " + (body.detail || "")
      : "登录失败 Sign-in failed: " + (body.detail || resp.status);
    error.hidden = false;
  } catch (e) {
    error.textContent = "无法连接 Cannot reach the server";
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});
