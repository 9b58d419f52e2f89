// The sign-in page needs no script; this file keeps the layout uniform.
